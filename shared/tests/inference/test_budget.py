"""A prediction's work is planned from the header and refused past the limits, by name."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

from medai.config.sections import ApiSettings, WorkLimits
from medai.inference import WorkLimitError, check_work, plan_volume_segmentation
from medai.io import MedicalImageError

DEFAULTS = WorkLimits()
# The sliding-window settings of ct-seg's configs: base, development, production.
CT_SEG = {
    "base": {"patch_size": (64, 64, 64), "overlap": 0.25, "sw_batch_size": 2},
    "development": {"patch_size": (48, 48, 48), "overlap": 0.25, "sw_batch_size": 2},
    "production": {"patch_size": (96, 96, 96), "overlap": 0.5, "sw_batch_size": 4},
}


def plan(shape, spacing, *, target=(1.5, 1.5, 1.5), config="production", **kwargs):
    affine = np.diag([*spacing, 1.0]) if np.ndim(spacing) == 1 else spacing
    chain = {**CT_SEG[config], "orientation": "RAS", "classes": 3, **kwargs}
    return plan_volume_segmentation(shape, affine, target_spacing=target, **chain)


def peak_bytes(work) -> int:
    peak = work.peak()
    assert peak is not None
    return peak.nbytes


def refusal(work, limits=DEFAULTS) -> WorkLimitError:
    with pytest.raises(WorkLimitError) as caught:
        check_work(work, limits)
    return caught.value


@pytest.mark.parametrize("config", CT_SEG)
@pytest.mark.parametrize("backend", ["numpy", "monai"])
def test_a_512x512x300_ct_at_0_7_mm_passes_the_defaults_with_every_config(config, backend):
    work = plan((512, 512, 300), (0.7, 0.7, 0.7), config=config, backend=backend)

    check_work(work, DEFAULTS)

    assert work.grids[1].shape == (239, 239, 141)


def test_the_largest_upload_the_server_accepts_passes_on_the_onnx_path():
    check_work(plan((512, 512, 1024), (0.7, 0.7, 0.7)), DEFAULTS)
    assert ApiSettings().max_voxels <= DEFAULTS.max_grid_voxels


@pytest.mark.parametrize("config", CT_SEG)
def test_8_cubed_voxels_of_100_mm_are_refused_for_their_windows(config):
    error = refusal(plan((8, 8, 8), (100.0,) * 3, config=config))

    assert error.limit == "limits.max_windows"
    assert "over the 468 x 468 x 468 grid" in error.reason
    assert error.reason.endswith("the limit is 512 windows (limits.max_windows)")


def test_100_mm_voxels_name_the_respaced_grid_when_the_grid_limit_is_lower():
    error = refusal(plan((8, 8, 8), (100.0,) * 3), WorkLimits(max_grid_voxels=100_000_000))

    assert error.limit == "limits.max_grid_voxels"
    assert error.reason == (
        "resampling to 1.5 x 1.5 x 1.5 mm spacing gives a grid of 468 x 468 x 468 = "
        "102,503,232 voxels; the limit is 100,000,000 voxels (limits.max_grid_voxels)"
    )


@pytest.mark.parametrize(
    ("spacing", "figures"),
    [
        (1e4, "46,668 x 46,668 x 46,668 = 1e+14 voxels"),
        (1e30, "4.7e+30 x 4.7e+30 x 4.7e+30 = 1e+92 voxels"),
        (1e300, "~10^300 x ~10^300 x ~10^300 = ~10^902 voxels"),
    ],
)
def test_absurd_voxels_are_refused_in_microseconds_with_exact_figures(spacing, figures):
    started = time.perf_counter()
    error = refusal(plan((8, 8, 8), (spacing,) * 3))

    assert time.perf_counter() - started < 0.5
    assert error.limit == "limits.max_grid_voxels"
    assert figures in error.reason
    assert str(error).startswith("input: resampling to 1.5 x 1.5 x 1.5 mm spacing")


def test_a_grid_beyond_float64_is_refused_as_too_large_to_count():
    error = refusal(plan((8, 8, 8), (1.7e308, 1.0, 1.0)))

    assert error.limit == "limits.max_grid_voxels"
    assert "too large to count" in error.reason


def test_a_tiny_model_spacing_is_refused_for_its_grid():
    error = refusal(plan((64, 64, 64), (1.0, 1.0, 1.0), target=(0.001, 0.001, 0.001)))

    assert "resampling to 0.001 x 0.001 x 0.001 mm spacing gives a grid of 63,001" in str(error)


@pytest.mark.parametrize(
    ("spacing", "accepted"),
    [
        ((0.5, 0.5, 5.0), True),  # thick slices, fine in-plane: a usual CT
        ((0.7, 0.7, 2.5), True),
        ((1.0, 1.0, 1e4), False),  # one absurd axis is enough
        ((1e-3, 1e-3, 200.0), True),  # shrinks to next to nothing
    ],
)
def test_anisotropic_voxels_are_judged_by_the_grid_they_give(spacing, accepted):
    work = plan((512, 512, 60), spacing)

    if accepted:
        check_work(work, DEFAULTS)
    else:
        assert refusal(work).limit == "limits.max_grid_voxels"


def test_the_sliding_window_padding_is_a_grid_of_its_own():
    error = refusal(
        plan((4, 4, 4), (1.5,) * 3, patch_size=(2000, 2000, 2000)),
        WorkLimits(max_grid_voxels=10**9),
    )

    assert "padding to the 2,000 x 2,000 x 2,000 patch gives a grid" in error.reason


def test_memory_is_refused_naming_the_stage_that_holds_the_most():
    work = plan((512, 512, 300), (0.7, 0.7, 0.7), backend="monai")
    peak = work.peak()
    assert peak is not None

    error = refusal(work, WorkLimits(max_memory_mb=1024))

    assert error.limit == "limits.max_memory_mb"
    assert f"({peak.what})" in error.reason
    assert "the limit is 1,024 MB (limits.max_memory_mb)" in error.reason


def test_more_classes_cost_more_memory_and_the_torch_path_more_than_numpy():
    two, five = (peak_bytes(plan((200, 200, 100), (0.8,) * 3, classes=k)) for k in (2, 5))
    torch = peak_bytes(plan((200, 200, 100), (0.8,) * 3, classes=2, backend="monai"))

    assert two < five
    assert two < torch


def test_a_float64_input_counts_its_float32_copy():
    single = peak_bytes(plan((100, 100, 100), (0.8,) * 3))
    double = peak_bytes(plan((100, 100, 100), (0.8,) * 3, input_dtype=np.float64))

    assert double - single >= 100**3 * 4


def test_a_singular_affine_is_an_unusable_image_not_a_crash():
    with pytest.raises(MedicalImageError, match="cannot be resampled: affine has voxel axes"):
        plan((8, 8, 8), (1.0, 0.0, 1.0))


def test_a_refusal_names_the_file_when_it_has_one_and_survives_pickling(tmp_path):
    error = refusal(plan((8, 8, 8), (1e4,) * 3))

    named = error.for_path(tmp_path / "scan.nii.gz")
    copy = pickle.loads(pickle.dumps(named))  # noqa: S301 - our own bytes

    assert str(named) == f"{tmp_path / 'scan.nii.gz'}: {error.reason}"
    assert (type(copy), str(copy), copy.limit) == (WorkLimitError, str(named), error.limit)


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_grid_voxels", 0), ("max_memory_mb", 0), ("max_windows", 0), ("max_window", 5)],
)
def test_limits_must_be_positive_and_known(key, value):
    with pytest.raises(ValueError, match=key):
        WorkLimits.model_validate({key: value})
