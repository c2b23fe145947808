"""Planned grids equal the grids the resampling really produces, whatever the geometry."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medai.inference import (
    GridOverflowError,
    SingularAffineError,
    padded_size,
    plan_resample,
    reorient_to,
    reoriented_grid,
    resample_to_grid,
    resample_to_spacing,
    spacing_grid,
    window_counts,
    window_starts,
)

AXCODES = ["RAS", "LPS", "LAS", "RSA", "PLI", "ASR"]


@st.composite
def geometries(draw: st.DrawFn) -> tuple[tuple[int, int, int], np.ndarray]:
    """A small shape and an axis-aligned affine: permuted, flipped, anisotropic, shifted."""
    shape = tuple(draw(st.integers(1, 12)) for _ in range(3))
    spacing = [draw(st.floats(0.3, 6.0)) for _ in range(3)]
    permutation = draw(st.permutations([0, 1, 2]))
    signs = [draw(st.sampled_from([-1.0, 1.0])) for _ in range(3)]
    affine = np.eye(4)
    affine[:3, :3] = 0.0
    for column, row in enumerate(permutation):
        affine[row, column] = signs[column] * spacing[column]
    affine[:3, 3] = [draw(st.floats(-50.0, 50.0)) for _ in range(3)]
    if draw(st.booleans()):  # a small rotation: the general (non-separable) path
        angle = draw(st.floats(-0.4, 0.4))
        c, s = np.cos(angle), np.sin(angle)
        affine[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ affine[:3, :3]
    return (shape[0], shape[1], shape[2]), affine


spacings = st.tuples(*[st.floats(0.4, 5.0)] * 3)


@settings(max_examples=60, deadline=None)
@given(geometry=geometries(), axcodes=st.sampled_from(AXCODES), target=spacings)
def test_planned_grids_are_the_grids_reorienting_and_respacing_produce(geometry, axcodes, target):
    shape, affine = geometry
    array = np.random.default_rng(0).normal(size=shape).astype(np.float32)

    planned_shape, planned_affine = reoriented_grid(shape, affine, axcodes)
    oriented, oriented_affine = reorient_to(array, affine, axcodes)
    model_shape, model_affine = spacing_grid(planned_shape, planned_affine, target)
    resampled, resampled_affine = resample_to_spacing(oriented, oriented_affine, target)

    assert planned_shape == oriented.shape
    np.testing.assert_array_equal(planned_affine, oriented_affine)
    assert model_shape == resampled.shape
    np.testing.assert_allclose(model_affine, resampled_affine, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(geometry=geometries(), target=spacings)
def test_no_interpolation_pass_is_larger_than_both_its_source_and_its_result(geometry, target):
    shape, affine = geometry
    model_shape, model_affine = spacing_grid(shape, affine, target)

    for source, source_affine, destination, destination_affine in [
        (shape, affine, model_shape, model_affine),
        (model_shape, model_affine, shape, affine),  # the logits, back onto the input
    ]:
        plan = plan_resample(source, source_affine, destination_affine, destination)
        ceiling = max(np.prod(source), np.prod(destination))
        assert all(np.prod(grid) <= ceiling for grid in plan.intermediate_shapes())
        if plan.separable:
            assert plan.intermediate_shapes()[-1] == destination
        logits = np.ones((1, *source), dtype=np.float32)
        result = resample_to_grid(logits, source_affine, destination_affine, destination)
        assert result.shape == (1, *destination)


def test_a_tall_thin_volume_is_shrunk_before_it_is_widened():
    # 1 x 2000 x 2000 voxels of 1000 x 0.01 x 0.01 mm: widening x first would pass
    # through 667 x 2000 x 2000 voxels (2.7 G), 40 times the 1.5 mm result.
    affine = np.diag([1000.0, 0.01, 0.01, 1.0])
    shape, target_affine = spacing_grid((2, 2000, 2000), affine, (1.5, 1.5, 1.5))

    plan = plan_resample((2, 2000, 2000), affine, target_affine, shape)

    assert shape == (668, 14, 14)
    assert plan.pass_order[-1] == 0
    assert max(np.prod(grid) for grid in plan.intermediate_shapes()) <= 2 * 2000 * 2000


@pytest.mark.parametrize(
    ("spacing", "edge"),
    [(100.0, 468), (1e4, 46668), (1e30, 4666666666666667697711504949248)],
)
def test_huge_voxels_give_exact_integer_grids_without_float_warnings(spacing, edge):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shape, _ = spacing_grid((8, 8, 8), np.diag([spacing, spacing, spacing, 1.0]), (1.5,) * 3)

    assert shape == (edge, edge, edge)
    assert all(isinstance(size, int) for size in shape)


def test_a_grid_beyond_float64_is_refused_as_too_large_to_count():
    with pytest.raises(GridOverflowError, match="too large to count"):
        spacing_grid((8, 8, 8), np.diag([1.7e308, 1.0, 1.0, 1.0]), (1.5,) * 3)


@pytest.mark.parametrize(
    "rzs",
    [np.diag([1.0, 0.0, 1.0]), np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])],
    ids=["zero-length-axis", "two-axes-in-one-direction"],
)
def test_a_singular_affine_is_refused_by_name(rzs):
    affine = np.eye(4)
    affine[:3, :3] = rzs

    with pytest.raises(SingularAffineError, match="singular"):
        reoriented_grid((4, 4, 4), affine, "RAS")
    with pytest.raises(SingularAffineError, match="singular"):
        spacing_grid((4, 4, 4), affine, (1.5,) * 3)


def test_tiny_voxels_are_rescaled_instead_of_underflowing():
    shape, affine = spacing_grid((4, 4, 4), np.diag([1e-200, 1e-200, 1e-200, 1.0]), (1.5,) * 3)

    assert shape == (1, 1, 1)
    np.testing.assert_allclose(np.diag(affine)[:3], [1.5, 1.5, 1.5])


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(1, 300),
    roi=st.integers(1, 64),
    overlap=st.floats(0.0, 0.95),
)
def test_counted_windows_are_the_windows_placed(size, roi, overlap):
    padded = padded_size((size,), (roi,))[0]

    (count,) = window_counts((padded,), (roi,), overlap)

    assert count == len(window_starts((padded,), (roi,), overlap)[0])


def test_windows_of_a_grid_too_large_to_list_are_counted_at_once():
    assert window_counts((10**15,), (96,), 0.5) == (20833333333333,)
