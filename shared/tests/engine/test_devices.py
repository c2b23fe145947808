"""train.device and train.precision: resolved here, refused with one line where impossible."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from medai.config.errors import ConfigError
from medai.engine.devices import plan_devices
from medai.engine.settings import TrainingSettings


@pytest.mark.parametrize(
    ("device", "cuda", "accelerator"),
    [("auto", False, "cpu"), ("auto", True, "cuda"), ("cpu", True, "cpu"), ("cuda", True, "cuda")],
)
def test_auto_picks_cuda_only_when_torch_sees_it(device, cuda, accelerator):
    plan = plan_devices(TrainingSettings(device=device), cuda_available=cuda)

    assert plan.accelerator == accelerator
    assert plan.precision == "32-true"
    assert plan.devices == 1


def test_cuda_without_a_cuda_device_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        plan_devices(TrainingSettings(device="cuda"), cuda_available=False)

    assert caught.value.key == "train.device"
    assert "cuda requested but torch" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "train.device=cpu" in (caught.value.hint or "")


def test_float16_autocast_needs_cuda_and_bfloat16_runs_anywhere():
    with pytest.raises(ConfigError, match="16-mixed needs a CUDA device; training runs on cpu"):
        plan_devices(TrainingSettings(precision="16-mixed"), cuda_available=False)

    assert (
        plan_devices(TrainingSettings(precision="16-mixed"), cuda_available=True).precision
        == "16-mixed"
    )
    assert (
        plan_devices(TrainingSettings(precision="bf16-mixed"), cuda_available=False).precision
        == "bf16-mixed"
    )


def test_precision_32_may_be_written_as_a_yaml_number_but_nothing_else():
    assert TrainingSettings.model_validate({"precision": 32}).precision == "32"
    for bad in (16, "fp16", True, 64):
        with pytest.raises(ValidationError, match="precision"):
            TrainingSettings.model_validate({"precision": bad})


def test_unknown_devices_are_refused_by_the_settings():
    with pytest.raises(ValidationError, match="device"):
        TrainingSettings.model_validate({"device": "tpu"})
