import numpy as np
import pytest

from medai.data import DatasetError
from medai.data.medmnist import read_medmnist

SIZES = {"train": 6, "val": 2, "test": 3}


def _arrays(n_labels=3, side=28):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in SIZES.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, n_labels), dtype=np.uint8)
    return arrays


def _npz(tmp_path, arrays, name="chestmnist.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("n_labels", [14, 1])  # ChestMNIST multi-label, PneumoniaMNIST binary
def test_reads_every_split_with_uint8_images_and_float_labels(tmp_path, n_labels):
    arrays = _arrays(n_labels)

    splits = read_medmnist(_npz(tmp_path, arrays))

    assert list(splits) == ["train", "val", "test"]
    for split, (images, labels) in splits.items():
        assert images.dtype == np.uint8
        assert images.shape == (SIZES[split], 28, 28)
        assert labels.dtype == np.float32
        assert labels.shape == (SIZES[split], n_labels)
        np.testing.assert_array_equal(images, arrays[f"{split}_images"])
        np.testing.assert_array_equal(labels, arrays[f"{split}_labels"])


def _problem(tmp_path, arrays):
    path = _npz(tmp_path, arrays)
    with pytest.raises(DatasetError) as caught:
        read_medmnist(path)
    assert caught.value.path == path
    assert "\n" not in str(caught.value)
    return caught.value.problem


def test_missing_key_is_an_error_naming_it(tmp_path):
    arrays = _arrays()
    del arrays["val_labels"]

    problem = _problem(tmp_path, arrays)

    assert problem.startswith("missing key 'val_labels'; MedMNIST files hold train_images, ")


COLOUR = "; colour MedMNIST sets are not supported"
MULTI_CLASS = "; multi-class MedMNIST sets store class indices and are not supported"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (
            "train_images",
            np.zeros((6, 28, 28), np.float32),
            "train_images: expected dtype uint8, got float32",
        ),
        (
            "test_images",
            np.zeros((3, 28, 28, 3), np.uint8),
            "test_images: expected grayscale images of shape (N, H, W), got (3, 28, 28, 3)"
            + COLOUR,
        ),
        (
            "val_images",
            np.zeros((2, 784), np.uint8),
            "val_images: expected grayscale images of shape (N, H, W), got (2, 784)",
        ),
        ("train_labels", np.zeros(6, np.uint8), "train_labels: expected shape (N, K), got (6,)"),
        (
            "train_labels",
            np.zeros((6, 3), np.float64),
            "train_labels: expected integer labels, got dtype float64",
        ),
        (
            "train_labels",
            np.full((6, 1), 8, np.uint8),
            f"train_labels: expected 0/1 labels (binary or multi-label), got 8{MULTI_CLASS}",
        ),
        (
            "val_labels",
            np.zeros((3, 3), np.uint8),
            "val_images holds 2 images but val_labels 3 rows",
        ),
        ("test_images", np.zeros((0, 28, 28), np.uint8), "test_images is empty"),
        (
            "val_images",
            np.zeros((2, 32, 32), np.uint8),
            "val has image size (H, W) (32, 32), but train has (28, 28)",
        ),
        (
            "test_labels",
            np.zeros((3, 4), np.uint8),
            "test has number of labels K (4,), but train has (3,)",
        ),
    ],
)
def test_wrong_dtype_shape_or_values_are_errors_naming_the_key(tmp_path, key, value, problem):
    arrays = _arrays() | {key: value}

    assert _problem(tmp_path, arrays) == problem


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match=r"MedMNIST \.npz file does not exist"):
        read_medmnist(tmp_path / "nope.npz")


def test_a_file_that_is_not_an_npz_is_an_error(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")

    with pytest.raises(DatasetError, match=r"broken.npz: is not a readable .npz file \("):
        read_medmnist(path)


def test_a_bare_npy_array_is_an_error(tmp_path):
    path = tmp_path / "images.npz"
    with path.open("wb") as stream:
        np.save(stream, np.zeros((2, 28, 28), np.uint8))

    with pytest.raises(DatasetError, match=r"holds one \.npy array; expected a MedMNIST \.npz"):
        read_medmnist(path)


def test_pickled_object_arrays_are_refused(tmp_path):
    arrays = _arrays() | {"train_labels": np.array([{"a": 1}] * 6, dtype=object)}

    assert _problem(tmp_path, arrays).startswith("is not a readable .npz file (")
