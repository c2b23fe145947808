import copy
import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from medai.io import MedicalImageError, Volume, read_nifti, read_volume, write_nifti

EXAMPLE_4D = Path(data_path) / "example4d.nii.gz"
ANATOMICAL = Path(data_path) / "anatomical.nii"

# Oblique (rotated about z, scaled by 1.25), shifted, with every entry exact in float32, so
# the float32 sform can hold it without rounding and the round trip can be compared exactly.
OBLIQUE_AFFINE = np.array(
    [
        [0.75, -1.0, 0.0, -90.5],
        [1.0, 0.75, 0.0, 12.25],
        [0.0, 0.0, 2.5, -30.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _ramp(shape=(4, 5, 6)):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


@pytest.mark.parametrize("name", ["scan.nii", "scan.nii.gz"])
def test_write_then_read_nifti_keeps_oblique_affine_spacing_and_voxels(tmp_path, name):
    array = _ramp()
    written = write_nifti(tmp_path / name, array, OBLIQUE_AFFINE)

    volume = read_nifti(written)

    np.testing.assert_array_equal(volume.affine, OBLIQUE_AFFINE)
    assert volume.affine.dtype == np.float64
    assert volume.spacing == (1.25, 1.25, 2.5)
    assert volume.shape == (4, 5, 6)
    np.testing.assert_array_equal(volume.array, array)
    assert volume.array.dtype == np.float32


def test_write_nifti_gzips_only_names_ending_in_nii_gz(tmp_path):
    plain = write_nifti(tmp_path / "a.nii", _ramp(), np.eye(4))
    packed = write_nifti(tmp_path / "a.nii.gz", _ramp(), np.eye(4))

    assert plain.read_bytes()[344:348] == b"n+1\x00"
    assert gzip.decompress(packed.read_bytes())[344:348] == b"n+1\x00"


def test_write_nifti_sets_qform_and_sform_to_the_same_affine(tmp_path):
    path = write_nifti(tmp_path / "a.nii.gz", _ramp(), OBLIQUE_AFFINE)

    image = nib.load(path)
    qform, qform_code = image.get_qform(coded=True)
    sform, sform_code = image.get_sform(coded=True)
    assert (int(qform_code), int(sform_code)) == (1, 1)
    np.testing.assert_allclose(qform, OBLIQUE_AFFINE, atol=1e-5)
    np.testing.assert_array_equal(sform, OBLIQUE_AFFINE)


def test_write_nifti_creates_parent_folders_and_returns_the_path(tmp_path):
    target = tmp_path / "deep" / "er" / "mask.nii.gz"

    assert write_nifti(target, _ramp(), np.eye(4)) == target
    assert target.is_file()


def test_write_nifti_stores_bool_mask_as_uint8_and_casts_to_requested_dtype(tmp_path):
    mask = _ramp() > 10
    labels = np.full((2, 3, 4), 3, dtype=np.int64)

    mask_path = write_nifti(tmp_path / "mask.nii.gz", mask, np.eye(4))
    labels_path = write_nifti(tmp_path / "labels.nii.gz", labels, np.eye(4), dtype=np.uint8)

    assert nib.load(mask_path).get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(nib.load(mask_path).dataobj), mask)
    assert nib.load(labels_path).get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(nib.load(labels_path).dataobj), labels)


def test_write_nifti_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"out\.mha: a NIfTI file name must end in \.nii or"):
        write_nifti(tmp_path / "out.mha", _ramp(), np.eye(4))


def test_write_nifti_rejects_non_3d_array(tmp_path):
    with pytest.raises(ValueError, match="must be 3D"):
        write_nifti(tmp_path / "a.nii", np.zeros((2, 2)), np.eye(4))


def test_read_nifti_reads_packaged_anatomical_with_nibabel_affine():
    volume = read_nifti(ANATOMICAL)

    reference = nib.load(ANATOMICAL)
    assert volume.shape == (33, 41, 25)
    np.testing.assert_array_equal(volume.affine, reference.affine)
    np.testing.assert_array_equal(volume.array, reference.get_fdata(dtype=np.float32))


def test_read_nifti_honours_dtype():
    assert read_nifti(ANATOMICAL, dtype=np.float64).array.dtype == np.float64


def test_read_nifti_rejects_missing_file(tmp_path):
    missing = tmp_path / "nothing.nii.gz"

    with pytest.raises(MedicalImageError) as info:
        read_nifti(missing)

    assert str(info.value) == f"{missing}: does not exist"
    assert info.value.path == missing
    assert info.value.reason == "does not exist"


def test_read_nifti_rejects_random_bytes(tmp_path):
    noise = tmp_path / "noise.nii"
    noise.write_bytes(np.random.default_rng(0).bytes(2000))

    with pytest.raises(MedicalImageError, match=r"noise\.nii: is not a NIfTI file \(bad header"):
        read_nifti(noise)


def test_read_nifti_rejects_truncated_gzip(tmp_path):
    whole = write_nifti(tmp_path / "whole.nii.gz", _ramp((20, 20, 20)), np.eye(4)).read_bytes()
    truncated = tmp_path / "cut.nii.gz"
    truncated.write_bytes(whole[: len(whole) // 2])

    with pytest.raises(MedicalImageError, match=r"cut\.nii\.gz: is truncated or not valid gzip"):
        read_nifti(truncated)


def test_read_nifti_rejects_truncated_uncompressed_data(tmp_path):
    whole = write_nifti(tmp_path / "whole.nii", _ramp((20, 20, 20)), np.eye(4)).read_bytes()
    truncated = tmp_path / "cut.nii"
    truncated.write_bytes(whole[:1000])

    with pytest.raises(MedicalImageError, match=r"cut\.nii: is truncated or unreadable"):
        read_nifti(truncated)


def test_read_nifti_rejects_plain_nifti_named_nii_gz(tmp_path):
    plain = write_nifti(tmp_path / "plain.nii", _ramp(), np.eye(4))
    misnamed = tmp_path / "plain.nii.gz"
    misnamed.write_bytes(plain.read_bytes())

    with pytest.raises(MedicalImageError, match=r"plain\.nii\.gz: is not a NIfTI file.*gzip"):
        read_nifti(misnamed)


def test_read_nifti_rejects_4d_image():
    with pytest.raises(MedicalImageError) as info:
        read_nifti(EXAMPLE_4D)

    assert str(info.value) == (
        f"{EXAMPLE_4D}: has 4 dimensions; expected a 3D volume "
        "(a 4D image with a last axis of size 1 is accepted and squeezed)"
    )


def test_read_nifti_squeezes_4d_image_with_singleton_last_axis(tmp_path):
    example = nib.load(EXAMPLE_4D)
    first = np.asanyarray(example.dataobj[..., :1])
    path = tmp_path / "single.nii.gz"
    nib.save(nib.Nifti1Image(first, example.affine), path)

    volume = read_nifti(path)

    assert volume.shape == (128, 96, 24)
    np.testing.assert_array_equal(volume.array, first[..., 0])
    np.testing.assert_array_equal(volume.affine, example.affine)


def test_read_nifti_rejects_2d_image(tmp_path):
    path = tmp_path / "flat.nii"
    nib.save(nib.Nifti1Image(np.zeros((3, 3), np.float32), np.eye(4)), path)

    with pytest.raises(MedicalImageError, match=r"flat\.nii: has 2 dimensions; expected a 3D"):
        read_nifti(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_read_nifti_rejects_nan_or_infinite_voxels(tmp_path, bad):
    array = _ramp()
    array[1, 2, 3] = bad
    path = write_nifti(tmp_path / "bad.nii.gz", array, np.eye(4))

    with pytest.raises(MedicalImageError, match=r"bad\.nii\.gz: contains NaN or infinite voxels"):
        read_nifti(path)


def test_read_volume_dispatches_nifti_by_suffix(tmp_path):
    for name in ("a.nii", "b.nii.gz", "C.NII.GZ"):
        path = write_nifti(tmp_path / name, _ramp(), OBLIQUE_AFFINE)
        np.testing.assert_array_equal(read_volume(path).affine, OBLIQUE_AFFINE)


def test_read_volume_rejects_unknown_suffix_listing_accepted_ones(tmp_path):
    path = tmp_path / "scan.mha"
    path.write_bytes(b"not read")

    with pytest.raises(MedicalImageError) as info:
        read_volume(path)

    assert str(info.value) == (
        f"{path}: is not a supported image; expected .nii, .nii.gz or a folder of DICOM files"
    )


def test_read_volume_rejects_missing_path(tmp_path):
    with pytest.raises(MedicalImageError, match=r"ghost\.mha: does not exist"):
        read_volume(tmp_path / "ghost.mha")


def test_medical_image_error_is_one_line_value_error_that_survives_copying(tmp_path):
    error = MedicalImageError(tmp_path / "x.nii", "is truncated\n - could the file be damaged?")

    assert isinstance(error, ValueError)
    assert str(error) == f"{tmp_path / 'x.nii'}: is truncated - could the file be damaged?"
    # deepcopy goes through __reduce__ like pickle does when errors cross worker processes.
    clone = copy.deepcopy(error)
    assert (clone.path, clone.reason, str(clone)) == (error.path, error.reason, str(error))


def test_volume_rejects_bad_geometry():
    with pytest.raises(ValueError, match="must be 3D"):
        Volume(np.zeros((2, 2, 2, 2)), np.eye(4))
    with pytest.raises(ValueError, match="must be 4x4"):
        Volume(np.zeros((2, 2, 2)), np.eye(3))
    affine = np.eye(4)
    affine[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        Volume(np.zeros((2, 2, 2)), affine)


def test_volume_spacing_is_column_norms_and_affine_is_float64():
    volume = Volume(np.zeros((2, 3, 4)), OBLIQUE_AFFINE.astype(np.float32))

    assert volume.spacing == (1.25, 1.25, 2.5)
    assert volume.shape == (2, 3, 4)
    assert volume.affine.dtype == np.float64
