import numpy as np
import pytest

from medai.data import phantoms


def _next_draw_after(consumed, seed=0):
    """The next uniform a generator gives after ``consumed`` draws of its own."""
    rng = np.random.default_rng(seed)
    consumed(rng)
    return rng.uniform()


def test_grid_axes_broadcast_to_the_volume_and_hold_voxel_indices():
    grid = phantoms.Grid.of((3, 4, 5))

    assert grid.shape == (3, 4, 5)
    assert (grid.i.shape, grid.j.shape, grid.k.shape) == ((3, 1, 1), (1, 4, 1), (1, 1, 5))
    assert np.broadcast(grid.i, grid.j, grid.k).shape == (3, 4, 5)
    assert grid.i.ravel().tolist() == [0.0, 1.0, 2.0]
    assert grid.i.dtype == np.float32


def test_a_box_grid_keeps_the_coordinates_of_the_whole_volume():
    box = (slice(2, 5), slice(0, 1), slice(7, 9))
    grid = phantoms.Grid.over(box)

    assert grid.shape == (3, 1, 2)
    assert grid.i.ravel().tolist() == [2.0, 3.0, 4.0]
    assert grid.k.ravel().tolist() == [7.0, 8.0]
    centre = (3.0, 0.0, 8.0)
    whole = phantoms.ellipsoid_level(phantoms.Grid.of((10, 10, 10)), centre, (2.0, 2.0, 2.0))
    np.testing.assert_array_equal(
        phantoms.ellipsoid_level(grid, centre, (2.0, 2.0, 2.0)), whole[box]
    )


def test_phantom_affine_scales_by_spacing_and_centres_the_volume_on_the_origin():
    affine = phantoms.phantom_affine((5, 7, 9), (1.5, 2.0, 0.5))

    np.testing.assert_array_equal(np.diag(affine), [1.5, 2.0, 0.5, 1.0])
    np.testing.assert_allclose(affine @ [2.0, 3.0, 4.0, 1.0], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(affine @ [0.0, 0.0, 0.0, 1.0], [-3.0, -6.0, -2.0, 1.0])


def test_rotation_is_a_proper_rotation_within_its_bounds():
    for seed in range(20):
        matrix = phantoms.rotation(np.random.default_rng(seed), (10.0, 20.0, 30.0))

        assert matrix.dtype == np.float32
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(matrix) == pytest.approx(1.0, abs=1e-6)
        # Bounded Euler angles keep each axis within ~40 degrees of where it was.
        assert np.all(np.diag(matrix) > np.cos(np.deg2rad(41.0)))


def test_rotation_without_freedom_is_the_identity():
    np.testing.assert_allclose(
        phantoms.rotation(np.random.default_rng(0), (0.0, 0.0, 0.0)), np.eye(3)
    )


def test_ellipsoid_level_is_zero_at_the_centre_and_one_at_the_end_of_each_semi_axis():
    grid = phantoms.Grid.of((21, 21, 21))
    level = phantoms.ellipsoid_level(grid, (10, 10, 10), (8.0, 4.0, 2.0))

    assert level.dtype == np.float32
    assert level[10, 10, 10] == 0.0
    assert level[18, 10, 10] == pytest.approx(1.0)
    assert level[10, 14, 10] == pytest.approx(1.0)
    assert level[10, 10, 12] == pytest.approx(1.0)
    assert level[10, 10, 13] > 1.0


def test_ellipsoid_level_lays_its_semi_axes_along_the_columns_of_the_turn():
    quarter_turn_about_k = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32)
    level = phantoms.ellipsoid_level(
        phantoms.Grid.of((21, 21, 21)), (10, 10, 10), (8.0, 2.0, 2.0), quarter_turn_about_k
    )

    assert level[10, 18, 10] == pytest.approx(1.0)  # the long axis now points along j
    assert level[18, 10, 10] > 1.0


def test_smooth_field_is_reproducible_from_the_generator_and_about_unit_variance():
    grid = phantoms.Grid.of((24, 24, 24))
    first = phantoms.smooth_field(grid, np.random.default_rng(3), cycles_per_fov=1.5)

    np.testing.assert_array_equal(phantoms.smooth_field(grid, np.random.default_rng(3), 1.5), first)
    assert first.dtype == np.float32
    assert first.shape == (24, 24, 24)
    variances = [
        float(phantoms.smooth_field(grid, np.random.default_rng(s), 2.0).var()) for s in range(40)
    ]
    assert 0.7 < np.mean(variances) < 1.3


def test_smooth_field_grows_rougher_with_more_cycles_per_field_of_view():
    grid = phantoms.Grid.of((32, 32, 32))

    def roughness(cycles):
        fields = [phantoms.smooth_field(grid, np.random.default_rng(s), cycles) for s in range(10)]
        return np.mean([np.abs(np.diff(field, axis=0)).mean() for field in fields])

    assert roughness(0.5) < roughness(1.5) < roughness(4.0)


def test_texture_has_unit_spread_and_is_reproducible():
    noise = phantoms.texture((16, 16, 16), np.random.default_rng(1), sigma=1.0)

    assert noise.dtype == np.float32
    assert float(noise.std()) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(
        phantoms.texture((16, 16, 16), np.random.default_rng(1), 1.0), noise
    )


@pytest.mark.parametrize(
    ("draw", "same_as"),
    [
        (lambda rng: phantoms.rotation(rng, (5.0, 5.0, 5.0)), lambda rng: rng.uniform(size=3)),
        (
            lambda rng: phantoms.smooth_field(phantoms.Grid.of((4, 4, 4)), rng, 1.0),
            lambda rng: rng.uniform(size=24),
        ),
        (
            lambda rng: phantoms.texture((4, 5, 6), rng, 1.0),
            lambda rng: rng.standard_normal((4, 5, 6), dtype=np.float32),
        ),
    ],
    ids=["rotation", "smooth_field", "texture"],
)
def test_each_tool_consumes_the_generator_exactly_as_before(draw, same_as):
    """Every generator's cases depend on what these take from the generator, in order."""
    assert _next_draw_after(draw) == _next_draw_after(same_as)


def test_largest_component_drops_smaller_islands_and_keeps_a_single_one_as_is():
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[1:3, 1:3, 1:3] = True
    mask[5:9, 5:9, 5:9] = True

    kept = phantoms.largest_component(mask)

    assert kept.sum() == 64
    assert kept[6, 6, 6]
    assert not kept[1, 1, 1]
    assert phantoms.largest_component(kept) is kept


def test_bounding_box_pads_the_mask_and_clips_to_the_volume():
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[0, 4, 8:10] = True

    box = phantoms.bounding_box(mask, pad=2)

    assert box == (slice(0, 3), slice(2, 7), slice(6, 10))
    assert mask[box].sum() == mask.sum()


@pytest.mark.parametrize(
    ("shape", "spacing", "message"),
    [
        ((64, 64), (1.0, 1.0, 1.0), r"3 entries, got shape=\[64, 64\], spacing=\[1.0, 1.0, 1.0\]"),
        ((8, 8, 8), (1.0, 1.0), r"3 entries"),
        (
            (8, 8, 8),
            (1.0, 0.0, 1.0),
            r"spacing must be positive millimetres, got \[1.0, 0.0, 1.0\]",
        ),
        ((8, 8, 8), (1.0, -2.0, 1.0), r"spacing must be positive"),
        ((8, 8, 8), (1.0, 1.0, float("nan")), r"spacing must be positive"),
        ((8, 8, 8), (float("inf"), 1.0, 1.0), r"spacing must be positive"),
    ],
)
def test_check_geometry_refuses_what_no_phantom_can_be_drawn_on(shape, spacing, message):
    with pytest.raises(ValueError, match=message):
        phantoms.check_geometry(shape, spacing)


def test_check_geometry_accepts_any_positive_anisotropic_spacing():
    phantoms.check_geometry((8, 9, 10), (0.5, 1.2, 5.0))
