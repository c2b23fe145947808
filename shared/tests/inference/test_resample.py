"""numpy/scipy geometry steps reproduce MONAI's Orientation, Spacing and SpatialResample."""

from __future__ import annotations

import monai.data as monai_data
import monai.transforms as monai_transforms
import numpy as np
import pytest
import torch

from medai.inference import (
    hu_window,
    reorient_to,
    resample_to_grid,
    resample_to_spacing,
    spacing_grid,
)
from medai.testing import packages_loaded_by


def _oblique() -> np.ndarray:
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([0.9, 1.3, 2.0])
    affine[:3, 3] = [5.0, -3.0, 2.0]
    return affine


AFFINES = {
    "ras-target-spacing": np.diag([1.5, 1.5, 1.5, 1.0]),
    "lps-anisotropic": np.array(
        [[-0.8, 0, 0, 40.0], [0, -1.1, 0, 20.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]]
    ),
    "swapped-axes": np.array(
        [[0, 1.2, 0, 0.0], [0.9, 0, 0, 0.0], [0, 0, -2.0, 10.0], [0, 0, 0, 1]]
    ),
    "within-tolerance": np.diag([1.5004, 1.4998, 1.5, 1.0]),
    "oblique": _oblique(),
    "half-voxel-shift": np.array([[1.5, 0, 0, 0.75], [0, 1.0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]]),
}


def _monai_chain(array, affine, axcodes, spacing):
    image = monai_data.MetaTensor(
        torch.from_numpy(array[np.newaxis]), affine=torch.from_numpy(affine)
    )
    image = monai_transforms.Orientation(axcodes=axcodes, labels=None)(image)
    image = monai_transforms.Spacing(pixdim=spacing, mode="bilinear")(image)
    return image.numpy()[0], image.affine.numpy()


@pytest.mark.parametrize("affine", AFFINES.values(), ids=AFFINES.keys())
@pytest.mark.parametrize("axcodes", ["RAS", "LPS"])
def test_reorient_and_respace_match_monai(affine, axcodes):
    array = np.random.default_rng(0).normal(0, 300, size=(23, 17, 11)).astype(np.float32)
    expected, expected_affine = _monai_chain(array, affine, axcodes, (1.5, 1.5, 1.5))

    oriented, oriented_affine = reorient_to(array, affine, axcodes)
    actual, actual_affine = resample_to_spacing(oriented, oriented_affine, (1.5, 1.5, 1.5))

    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual_affine, expected_affine, atol=1e-9)
    np.testing.assert_allclose(actual, expected, atol=1e-3, rtol=1e-5)


@pytest.mark.parametrize("affine", AFFINES.values(), ids=AFFINES.keys())
def test_resample_to_grid_matches_monai_spatial_resample_with_border_padding(affine):
    rng = np.random.default_rng(2)
    shape = (23, 17, 11)
    src_shape, src_affine = spacing_grid(shape, affine, (1.7, 1.3, 1.5))
    logits = rng.normal(size=(3, *src_shape)).astype(np.float32)
    expected = monai_transforms.SpatialResample(mode="bilinear", padding_mode="border")(
        monai_data.MetaTensor(torch.from_numpy(logits), affine=torch.from_numpy(src_affine)),
        dst_affine=torch.from_numpy(affine),
        spatial_size=shape,
    ).numpy()

    actual = resample_to_grid(logits, src_affine, affine, shape)

    assert actual.shape == (3, *shape)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_resampling_between_rotated_grids_matches_monai():
    # Not axis-aligned: the general (scipy) interpolation path.
    shape = (20, 18, 12)
    src_affine = AFFINES["oblique"]
    logits = np.random.default_rng(4).normal(size=(2, 15, 16, 14)).astype(np.float32)
    expected = monai_transforms.SpatialResample(mode="bilinear", padding_mode="border")(
        monai_data.MetaTensor(torch.from_numpy(logits), affine=torch.from_numpy(src_affine)),
        dst_affine=torch.from_numpy(AFFINES["lps-anisotropic"]),
        spatial_size=shape,
    ).numpy()

    actual = resample_to_grid(logits, src_affine, AFFINES["lps-anisotropic"], shape)

    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_nearest_order_copies_values_on_a_shifted_grid():
    array = np.arange(4 * 5 * 6, dtype=np.float32).reshape(1, 4, 5, 6)
    src = np.eye(4)
    dst = np.eye(4)
    dst[:3, 3] = [1.0, 2.0, 0.0]

    shifted = resample_to_grid(array, src, dst, (3, 3, 6), order=0)

    np.testing.assert_array_equal(shifted[0], array[0, 1:4, 2:5, :])


def test_reorienting_is_exact_and_keeps_every_voxel_in_place():
    affine = AFFINES["swapped-axes"]
    array = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)

    oriented, new_affine = reorient_to(array, affine, "RAS")

    assert oriented.shape == (5, 4, 6)
    assert np.all(np.diag(new_affine)[:3] > 0)
    # Voxel (1, 2, 3) of the input is at the same world position in the output.
    world = affine @ [1, 2, 3, 1]
    index = np.rint(np.linalg.solve(new_affine, world)[:3]).astype(int)
    assert oriented[tuple(index)] == array[1, 2, 3]


def test_nothing_is_interpolated_when_the_grid_does_not_change():
    array = np.random.default_rng(3).normal(size=(8, 9, 10)).astype(np.float32)
    affine = np.diag([1.5, 1.5, 1.5, 1.0])

    same, same_affine = resample_to_spacing(array, affine, (1.5, 1.5, 1.5))
    back = resample_to_grid(array[np.newaxis], affine, affine, array.shape)

    assert same is array
    np.testing.assert_array_equal(same_affine, affine)
    np.testing.assert_array_equal(back[0], array)


def test_spacing_grid_keeps_the_extent_and_the_first_voxel_centre():
    affine = np.array([[0.8, 0, 0, -10.0], [0, 1.1, 0, 5.0], [0, 0, 2.5, 0.0], [0, 0, 0, 1]])

    shape, new_affine = spacing_grid((100, 50, 8), affine, (1.5, 1.5, 1.5))

    # round(extent / spacing) + 1 voxel centres, starting on the input's first centre.
    assert shape == (54, 37, 13)
    np.testing.assert_allclose(new_affine[:3, 3], affine[:3, 3])
    np.testing.assert_allclose(np.diag(new_affine)[:3], [1.5, 1.5, 1.5])


def test_hu_window_maps_the_window_to_unit_range_and_clips():
    hu = np.array([-1000.0, -200.0, 50.0, 300.0, 3000.0])

    windowed = hu_window(hu, -200.0, 300.0)

    assert windowed.dtype == np.float32
    np.testing.assert_allclose(windowed, [0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hu_window(np.zeros(3), 300.0, -200.0), "must be below"),
        (lambda: reorient_to(np.zeros((2, 2)), np.eye(4)), "must be 3D"),
        (lambda: reorient_to(np.zeros((2, 2, 2)), np.eye(3)), "must be 4x4"),
        (lambda: resample_to_spacing(np.zeros((2, 2, 2)), np.eye(4), (1, 1, 0)), "positive"),
        (lambda: resample_to_spacing(np.zeros((2, 2, 2)), np.eye(4), (1, 1, 1), 3), "order"),
        (lambda: resample_to_grid(np.zeros((2, 2, 2)), np.eye(4), np.eye(4), (2, 2)), "4D"),
    ],
)
def test_bad_arguments_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_importing_medai_inference_loads_no_torch_monai_or_mlflow():
    assert packages_loaded_by(["medai.inference"]) == set()
