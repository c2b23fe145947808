"""Multi-channel volumes: one 4D NIfTI or one 3D file per channel, checked from the headers."""

import gzip

import nibabel as nib
import numpy as np
import pytest

from medai.hostile import raw_nifti
from medai.io import (
    ChannelCountError,
    ChannelMismatchError,
    ChannelVolume,
    InvalidGeometryError,
    MedicalImageError,
    read_channels,
    read_nifti,
    write_nifti,
)
from medai.io.channels import open_channels
from medai.io.dicom import TooManyVoxelsError

NAMES = ("FLAIR", "T1w", "t1gd", "T2w")
SHAPE = (6, 7, 8)
AFFINE = np.array(
    [[0.0, -1.2, 0.0, 10.0], [1.1, 0.0, 0.0, -4.0], [0.0, 0.0, 2.5, 3.0], [0.0, 0.0, 0.0, 1.0]]
)


def _channels(count=4, shape=SHAPE):
    """Distinct values per channel and voxel, so a swapped axis or channel shows."""
    rng = np.random.default_rng(count)
    return rng.integers(-500, 2000, size=(*shape, count)).astype(np.int16)


def _write_4d(path, data, affine=AFFINE):
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)
    return path


def _write_split(folder, data, affines=None):
    """One 3D file per channel, nnU-Net style: case_0000.nii.gz, case_0001.nii.gz, ..."""
    affines = affines or [AFFINE] * data.shape[-1]
    return [
        write_nifti(folder / f"case_{index:04d}.nii.gz", data[..., index], affines[index])
        for index in range(data.shape[-1])
    ]


def _refusal(kind, files, names=NAMES, **kwargs):
    with pytest.raises(kind) as caught:
        read_channels(files, names, **kwargs)
    assert "\n" not in str(caught.value)
    return caught.value


def test_a_4d_file_reads_channel_first_with_its_names_and_affine(tmp_path):
    data = _channels()
    path = _write_4d(tmp_path / "case.nii.gz", data)

    volume = read_channels([path], NAMES)

    assert volume.array.shape == (4, *SHAPE)
    assert volume.array.dtype == np.float32
    assert volume.channels == NAMES
    assert volume.shape == SHAPE
    np.testing.assert_array_equal(volume.array, np.moveaxis(data, -1, 0))
    np.testing.assert_allclose(volume.affine, AFFINE, atol=1e-6)
    np.testing.assert_allclose(volume.spacing, (1.1, 1.2, 2.5), atol=1e-6)


def test_one_file_per_channel_reads_to_the_same_array_as_the_4d_file(tmp_path):
    data = _channels()
    four_d = read_channels([_write_4d(tmp_path / "case.nii.gz", data)], NAMES)

    split = read_channels(_write_split(tmp_path, data), NAMES)

    np.testing.assert_array_equal(split.array, four_d.array)
    np.testing.assert_allclose(split.affine, four_d.affine, atol=1e-6)
    assert split.channels == four_d.channels


def test_a_channel_reads_exactly_as_read_nifti_reads_its_file(tmp_path):
    files = _write_split(tmp_path, _channels(count=2))

    volume = read_channels(files, ("T1", "T2"))

    single = read_nifti(files[1])
    np.testing.assert_array_equal(volume.channel(1).array, single.array)
    np.testing.assert_array_equal(volume.channel(1).affine, single.affine)


def test_a_3d_file_is_one_channel_and_names_default_to_indices(tmp_path):
    path = write_nifti(tmp_path / "ct.nii.gz", _channels(count=1)[..., 0], AFFINE)

    volume = read_channels([path])

    assert volume.array.shape == (1, *SHAPE)
    assert volume.channels == ("0",)


def test_without_names_a_4d_file_has_as_many_channels_as_its_last_axis(tmp_path):
    path = _write_4d(tmp_path / "case.nii.gz", _channels(count=3))

    assert read_channels([path]).channels == ("0", "1", "2")


def test_a_4d_file_with_another_channel_count_is_refused_naming_both_numbers(tmp_path):
    path = _write_4d(tmp_path / "case.nii.gz", _channels(count=3))

    err = _refusal(ChannelCountError, [path])

    assert err.path == path
    assert err.reason == ("has 3 channel(s) on its 4th axis; expected 4 (FLAIR, T1w, t1gd, T2w)")


def test_a_3d_file_where_four_channels_are_expected_is_refused(tmp_path):
    path = write_nifti(tmp_path / "t1.nii.gz", _channels(count=1)[..., 0], AFFINE)

    err = _refusal(ChannelCountError, [path])

    assert err.reason == "has 1 channel(s) (a 3D image); expected 4 (FLAIR, T1w, t1gd, T2w)"


def test_fewer_channel_files_than_channel_names_are_refused(tmp_path):
    files = _write_split(tmp_path, _channels(count=3))

    err = _refusal(ChannelCountError, files)

    assert err.reason == ("is the first of 3 channel files; expected 4 (FLAIR, T1w, t1gd, T2w)")


def test_channels_of_different_shapes_are_refused_naming_channels_and_shapes(tmp_path):
    files = _write_split(tmp_path, _channels())
    write_nifti(files[2], np.zeros((6, 7, 9), np.int16), AFFINE)

    err = _refusal(ChannelMismatchError, files)

    assert err.path == files[2]
    assert err.reason == (
        "channel 2 (t1gd) has shape (6, 7, 9), but channel 0 (FLAIR) has shape (6, 7, 8); "
        "the channels must share one grid"
    )
    assert "case_0000" not in str(err)  # the other channel by name, not by its file


def test_channels_with_different_affines_are_refused_naming_the_difference(tmp_path):
    shifted = AFFINE.copy()
    shifted[0, 3] += 0.5
    files = _write_split(tmp_path, _channels(), [AFFINE, AFFINE, AFFINE, shifted])

    err = _refusal(ChannelMismatchError, files)

    assert err.path == files[3]
    assert err.reason == (
        "channel 3 (T2w) affine differs from channel 0 (FLAIR)'s by up to 0.5 "
        "(tolerance 0.001); the channels must share one grid"
    )


def test_affines_equal_up_to_float32_storage_are_one_grid(tmp_path):
    nudged = AFFINE.copy()
    nudged[:3, :3] *= 1 + 1e-6
    files = _write_split(tmp_path, _channels(count=2), [AFFINE, nudged])

    assert read_channels(files, ("T1", "T2")).array.shape == (2, *SHAPE)


def test_max_voxels_counts_every_channel(tmp_path):
    path = _write_4d(tmp_path / "case.nii.gz", _channels())
    voxels = 4 * int(np.prod(SHAPE))

    assert read_channels([path], NAMES, max_voxels=voxels).array.shape[0] == 4
    err = _refusal(TooManyVoxelsError, [path], max_voxels=voxels - 1)
    assert err.reason == (
        f"has 4 channel(s) of 6 x 7 x 8 voxels, {voxels} in all; the limit is {voxels - 1}"
    )


def test_the_voxel_limit_is_checked_before_any_voxel_is_decoded(tmp_path):
    full = raw_nifti(shape=SHAPE, voxels=np.arange(np.prod(SHAPE)))
    files = []
    for index in range(2):
        path = tmp_path / f"case_{index:04d}.nii"
        path.write_bytes(full[:-100])  # the header, then too few voxels: decoding fails
        files.append(path)

    with pytest.raises(MedicalImageError, match="truncated"):
        read_channels(files, ("T1", "T2"))
    err = _refusal(TooManyVoxelsError, files, names=("T1", "T2"), max_voxels=100)
    assert err.path == files[0]


def test_a_channel_file_with_an_unusable_header_is_refused_by_the_nifti_rules(tmp_path):
    files = _write_split(tmp_path, _channels(count=2))
    files[1].write_bytes(raw_nifti(shape=SHAPE, srow_x=[np.nan, 0, 0, 0], compress=True))

    err = _refusal(InvalidGeometryError, files, names=("T1", "T2"))

    assert err.path == files[1]
    assert err.reason == "sform holds NaN"


def test_a_channel_file_that_is_itself_multi_channel_is_refused(tmp_path):
    files = _write_split(tmp_path, _channels(count=2))
    _write_4d(files[1], _channels(count=2))

    err = _refusal(MedicalImageError, files, names=("T1", "T2"))

    assert err.reason == (
        "channel 1 (T2) has shape (6, 7, 8, 2); expected a 3D volume per channel file"
    )


def test_a_5d_file_is_refused_naming_its_dimensions(tmp_path):
    path = _write_4d(tmp_path / "case.nii.gz", _channels()[..., np.newaxis])

    err = _refusal(MedicalImageError, [path])

    assert err.reason.startswith("has 5 dimensions; expected a 3D volume or a 4D image")


def test_nan_voxels_in_any_channel_are_refused(tmp_path):
    data = _channels().astype(np.float32)
    data[1, 2, 3, 2] = np.nan
    path = _write_4d(tmp_path / "case.nii.gz", data)

    err = _refusal(MedicalImageError, [path])

    assert err.reason == "contains NaN or infinite voxels"


def test_a_missing_channel_file_is_refused_naming_it(tmp_path):
    files = _write_split(tmp_path, _channels(count=2))
    files[1].unlink()

    err = _refusal(MedicalImageError, files, names=("T1", "T2"))

    assert (err.path, err.reason) == (files[1], "does not exist")


def test_no_files_is_a_programming_error():
    with pytest.raises(ValueError, match="at least one file"):
        read_channels([])


@pytest.mark.parametrize(
    ("array", "channels", "message"),
    [
        (np.zeros((2, 3, 4)), ("a", "b"), r"must be \(C, X, Y, Z\)"),
        (np.zeros((2, 3, 4, 5)), ("a",), "has 2 channels but 1 channel names"),
    ],
)
def test_channel_volume_refuses_inconsistent_arrays(array, channels, message):
    with pytest.raises(ValueError, match=message):
        ChannelVolume(array, np.eye(4), channels)


def test_channel_volume_refuses_a_non_finite_affine():
    affine = np.eye(4)
    affine[0, 3] = np.inf
    with pytest.raises(ValueError, match="finite 4x4"):
        ChannelVolume(np.zeros((1, 2, 2, 2)), affine, ("a",))


def test_images_opened_from_bytes_are_checked_and_named_by_the_callers_labels(tmp_path):
    data = _channels(count=2)
    files = _write_split(tmp_path, data)
    parts = [nib.Nifti1Image.from_bytes(gzip.decompress(path.read_bytes())) for path in files]
    other = nib.Nifti1Image(np.zeros((6, 7, 9), np.int16), AFFINE)

    opened = open_channels([("part 1", parts[0]), ("part 2", parts[1])], ("T1", "T2"))
    with pytest.raises(ChannelMismatchError) as caught:
        open_channels([("part 1", parts[0]), ("part 2", other)], ("T1", "T2"))

    np.testing.assert_array_equal(opened.decode().array, np.moveaxis(data, -1, 0))
    assert str(caught.value).startswith("part 2: channel 1 (T2) has shape (6, 7, 9)")


def test_an_image_that_is_not_nifti_is_refused():
    image = nib.MGHImage(np.zeros(SHAPE, np.float32), np.eye(4))

    with pytest.raises(MedicalImageError, match="nibabel reads it as MGHImage"):
        open_channels([("part 1", image)])
