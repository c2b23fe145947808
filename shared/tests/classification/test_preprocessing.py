import numpy as np
import pytest

from medai.classification.preprocessing import (
    prepare_image,
    resize_image,
    standardize_image,
    to_model_batch,
    to_model_input,
)


def test_downscaling_averages_fine_stripes_instead_of_subsampling_them():
    stripes = np.zeros((200, 200), dtype=np.float32)
    stripes[:, ::2] = 1.0

    resized = resize_image(stripes, 20)

    # Nearest-neighbour subsampling would give all zeros or all ones.
    assert resized.shape == (20, 20)
    assert resized.dtype == np.float32
    assert np.allclose(resized, 0.5, atol=0.05)


def test_resize_keeps_a_constant_image_constant_and_values_within_the_input_range():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.7, (37, 53)).astype(np.float32)

    assert np.allclose(resize_image(np.full((50, 70), 0.25), 16), 0.25)
    up = resize_image(image, 64)
    down = resize_image(image, 8)
    for resized in (up, down):
        assert resized.min() >= 0.2 - 1e-6
        assert resized.max() <= 0.7 + 1e-6


def test_resize_stretches_a_non_square_image_so_left_stays_left():
    image = np.zeros((40, 80), dtype=np.float32)
    image[:, :40] = 1.0

    resized = resize_image(image, 10)

    assert resized[:, :4].min() > 0.99
    assert resized[:, 6:].max() < 0.01


def test_model_input_is_a_contiguous_float32_batch_of_one():
    image = np.random.default_rng(0).uniform(0, 1, (100, 90))

    model_input = to_model_input(image, 32)

    assert model_input.shape == (1, 1, 32, 32)
    assert model_input.dtype == np.float32
    assert model_input.flags.c_contiguous
    assert np.array_equal(model_input[0, 0], resize_image(image, 32))


def test_standardize_gives_zero_mean_unit_std_and_a_flat_image_zeros():
    image = np.random.default_rng(1).uniform(0, 1, (64, 64)).astype(np.float32)

    standardized = to_model_input(image, 32, standardize=True)[0, 0]

    assert abs(float(standardized.mean())) < 1e-5
    assert float(standardized.std()) == pytest.approx(1.0, abs=1e-4)
    assert np.array_equal(standardize_image(np.full((4, 4), 0.3, np.float32)), np.zeros((4, 4)))


def test_batch_resizes_images_of_different_sizes_to_one_stack():
    rng = np.random.default_rng(2)
    images = [rng.uniform(0, 1, shape) for shape in ((40, 40), (64, 48), (20, 30))]

    batch = to_model_batch(images, 16)

    assert batch.shape == (3, 1, 16, 16)
    for row, image in zip(batch, images, strict=True):
        assert np.array_equal(row[0], resize_image(image, 16))


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((2, 8, 8)), r"expected a 2D image \(H, W\), got an array of shape \(2, 8, 8\)"),
        (np.zeros((0, 8)), r"expected a 2D image"),
        (np.array([[0.0, np.nan], [0.1, 0.2]]), "non-finite"),
        (np.array([[0.0, 255.0], [0.1, 0.2]]), r"scaled to \[0, 1\], got values in \[0, 255\]"),
    ],
)
def test_prepare_image_rejects_what_is_not_a_scaled_2d_image(pixels, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(pixels, 8)


def test_size_must_be_positive_and_a_bad_batch_item_is_named():
    with pytest.raises(ValueError, match="image size must be a positive number of pixels, got 0"):
        resize_image(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match=r"image 1: image intensities must be scaled"):
        to_model_batch([np.zeros((4, 4)), np.full((4, 4), 2.0)], 4)
    with pytest.raises(ValueError, match="at least one image"):
        to_model_batch([], 4)
