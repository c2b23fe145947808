"""``train.device`` and ``train.precision`` resolved against what torch sees, before training.

A request the machine cannot honour (CUDA on a machine without it, float16 autocast on
a CPU) stops the command with one line naming the key, before any data is read or any
MLflow run opens; Lightning would otherwise fail later, or silently train in another
precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from medai.config.blame import RESOLVED
from medai.config.errors import ConfigError
from medai.engine.settings import TrainingSettings

LightningPrecision = Literal["32-true", "bf16-mixed", "16-mixed"]

_LIGHTNING_PRECISION: dict[str, LightningPrecision] = {
    "32": "32-true",
    "bf16-mixed": "bf16-mixed",
    "16-mixed": "16-mixed",
}


@dataclass(frozen=True)
class DevicePlan:
    """Where and in which precision a fit runs, in Lightning's terms.

    Attributes:
        accelerator: ``cpu`` or ``cuda``.
        precision: Lightning's precision string (``32-true``, ``bf16-mixed``, ``16-mixed``).
        devices: Devices of this process (one; multi-process training adds more).
    """

    accelerator: str
    precision: LightningPrecision
    devices: int = 1

    @property
    def torch_device(self) -> torch.device:
        """The torch device the network runs on."""
        return torch.device(self.accelerator)


def cuda_description() -> str:
    """Why torch sees no CUDA device, in words (its build, the driver's answer)."""
    built_for = torch.version.cuda
    if built_for is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {built_for}) finds no CUDA device or driver"


def plan_devices(train: TrainingSettings, *, cuda_available: bool | None = None) -> DevicePlan:
    """Resolve ``auto`` and check that the device and precision can be honoured here.

    Args:
        train: The ``train`` section.
        cuda_available: What torch reports; asked when None (a parameter for tests).

    Raises:
        ConfigError: ``train.device=cuda`` without a CUDA device, or ``16-mixed`` on a CPU.
    """
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if train.device == "cuda" and not available:
        raise ConfigError(
            RESOLVED,
            "train.device",
            f"cuda requested but {cuda_description()}",
            hint="use train.device=auto (a GPU when there is one) or train.device=cpu",
        )
    use_cuda = train.device == "cuda" or (train.device == "auto" and available)
    accelerator = "cuda" if use_cuda else "cpu"
    if train.precision == "16-mixed" and accelerator != "cuda":
        raise ConfigError(
            RESOLVED,
            "train.precision",
            f"16-mixed needs a CUDA device; training runs on {accelerator}",
            hint="use train.precision=32 or bf16-mixed on a CPU",
        )
    return DevicePlan(accelerator=accelerator, precision=_LIGHTNING_PRECISION[train.precision])
