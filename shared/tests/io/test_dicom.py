import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medai.io import MedicalImageError, read_dicom_series, read_volume

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MR_SMALL = Path(get_testdata_file("MR_small.dcm"))
NON_IMAGES = [Path(get_testdata_file("waveform_ecg.dcm")), Path(get_testdata_file("test-SR.dcm"))]

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
# Oblique: rows run along (0.6, 0.8, 0) LPS, columns along -z; the normal (-0.8, 0.6, 0) has no
# z component, so sorting by z or by file order would both be wrong.
OBLIQUE = (0.6, 0.8, 0.0, 0.0, 0.0, -1.0)
CT_PIXEL_SPACING = 0.661468  # both directions in CT_small.dcm
CT_INTERCEPT = -1024.0
SECRETS = ("Doe^Jane", "SECRET-ID-123", "1.2.3.4.5.6.7.8.9")


def _expected_hu(k, shape=(128, 128)):
    # array[i, j, k] = HU written by _slice for slice k: 1000 k + i - j.
    i, j = np.indices(shape)
    return (1000 * k + i - j).astype(np.float32)


def _slice(
    position, *, index=0, instance=1, series="1.2.826.0.1.3680043.8.498.1", orientation=AXIAL
):
    """CT_small with new geometry and pixels raw[r, c] = 1024 + 1000 index + c - r."""
    dataset = pydicom.dcmread(CT_SMALL)
    dataset.ImagePositionPatient = [f"{value:.4f}" for value in position]
    dataset.ImageOrientationPatient = [f"{value:.4f}" for value in orientation]
    dataset.InstanceNumber = instance
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.SeriesInstanceUID = series
    dataset.PatientName, dataset.PatientID = SECRETS[0], SECRETS[1]
    rows, columns = np.indices((dataset.Rows, dataset.Columns))
    raw = 1024 + 1000 * index + columns - rows
    dataset.PixelData = raw.astype(np.int16).tobytes()
    return dataset


def _write(folder, name, dataset):
    folder.mkdir(parents=True, exist_ok=True)
    dataset.save_as(folder / name)
    return folder / name


def _axial_series(folder, z_positions, origin=(-158.1358, -179.0358)):
    """Slice k sits at z_positions[k]; file names and InstanceNumbers run in other orders."""
    count = len(z_positions)
    for k, z in enumerate(z_positions):
        name = f"IMG{(k + 1) % count:04d}"  # rotated: the last slice sorts first; no suffix
        instance = count - k  # reversed relative to position
        _write(folder, name, _slice((*origin, z), index=k, instance=instance))
    return folder


def _message(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text
    assert not any(secret in text for secret in SECRETS)
    return text


def test_read_dicom_series_orders_slices_by_position_not_instance_or_name(tmp_path):
    folder = _axial_series(tmp_path / "ct", [10.0, 12.5, 15.0, 17.5, 20.0])

    volume = read_dicom_series(folder)

    assert volume.shape == (128, 128, 5)
    for k in range(5):
        np.testing.assert_array_equal(volume.array[..., k], _expected_hu(k))


def test_read_dicom_series_applies_rescale_to_hounsfield_units(tmp_path):
    folder = tmp_path / "ct"
    shutil.copy(CT_SMALL, folder.mkdir() or folder / "only.dcm")
    raw = pydicom.dcmread(CT_SMALL).pixel_array

    volume = read_dicom_series(folder)

    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array[..., 0], raw.T + CT_INTERCEPT)


def test_read_dicom_series_builds_ras_affine_whose_corners_hit_image_positions(tmp_path):
    z_positions = [-75.0, -72.5, -70.0]
    origin = (-158.1358, -179.0358)
    folder = _axial_series(tmp_path / "ct", z_positions, origin)

    volume = read_dicom_series(folder)

    assert volume.spacing == pytest.approx((CT_PIXEL_SPACING, CT_PIXEL_SPACING, 2.5))
    for k, z in enumerate(z_positions):
        # LPS -> RAS: negate x and y.
        corner = volume.affine @ [0, 0, k, 1]
        np.testing.assert_allclose(corner[:3], [-origin[0], -origin[1], z], atol=1e-6)
    # One step along i follows the row direction (+x in LPS, so -x in RAS) by the column spacing.
    step_i = volume.affine @ [1, 0, 0, 1] - volume.affine @ [0, 0, 0, 1]
    np.testing.assert_allclose(step_i[:3], [-CT_PIXEL_SPACING, 0, 0], atol=1e-9)
    step_j = volume.affine @ [0, 1, 0, 1] - volume.affine @ [0, 0, 0, 1]
    np.testing.assert_allclose(step_j[:3], [0, -CT_PIXEL_SPACING, 0], atol=1e-9)


def test_read_dicom_series_handles_oblique_slices_sorted_along_the_normal(tmp_path):
    normal = np.cross(OBLIQUE[:3], OBLIQUE[3:])  # (-0.8, 0.6, 0)
    origin = np.array([10.0, -20.0, 30.0])
    positions = [np.round(origin + 2.0 * k * normal, 4) for k in range(4)]
    folder = tmp_path / "oblique"
    for k in (2, 0, 3, 1):  # written out of order, InstanceNumber reversed
        dataset = _slice(positions[k], index=k, instance=4 - k, orientation=OBLIQUE)
        dataset.PixelSpacing = ["0.5", "0.75"]  # between rows, between columns
        _write(folder, f"s{k}.dcm", dataset)

    volume = read_dicom_series(folder)

    flip = np.array([-1.0, -1.0, 1.0])
    for k in range(4):
        np.testing.assert_array_equal(volume.array[..., k], _expected_hu(k))
        corner = volume.affine @ [0, 0, k, 1]
        np.testing.assert_allclose(corner[:3], positions[k] * flip, atol=1e-6)
    # i follows the row direction, one column apart; j the column direction, one row apart.
    np.testing.assert_allclose(volume.affine[:3, 0], np.array([0.6, 0.8, 0]) * flip * 0.75)
    np.testing.assert_allclose(volume.affine[:3, 1], np.array([0, 0, -1.0]) * 0.5)
    assert volume.spacing == pytest.approx((0.75, 0.5, 2.0))


def test_read_dicom_series_uses_slice_thickness_for_single_slice(tmp_path):
    folder = tmp_path / "mr"
    folder.mkdir()
    shutil.copy(MR_SMALL, folder / "mr.dcm")
    mr = pydicom.dcmread(MR_SMALL)

    volume = read_dicom_series(folder)

    assert volume.shape == (64, 64, 1)
    assert volume.spacing == pytest.approx((0.3125, 0.3125, 0.8))
    np.testing.assert_array_equal(volume.array[..., 0], mr.pixel_array.T)  # no rescale in MR


def test_read_dicom_series_falls_back_to_1mm_without_slice_thickness(tmp_path):
    dataset = pydicom.dcmread(CT_SMALL)
    del dataset.SliceThickness
    folder = tmp_path / "ct"
    _write(folder, "a.dcm", dataset)

    assert read_dicom_series(folder).spacing[2] == pytest.approx(1.0)


def test_read_dicom_series_skips_hidden_files_and_dicomdir(tmp_path):
    folder = _axial_series(tmp_path / "ct", [0.0, 2.5])
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "DICOMDIR").write_bytes(b"not a slice")

    assert read_dicom_series(folder).shape == (128, 128, 2)


def test_read_volume_dispatches_folder_to_dicom(tmp_path):
    folder = _axial_series(tmp_path / "ct", [0.0, 2.5, 5.0])

    volume = read_volume(folder)

    np.testing.assert_array_equal(volume.affine, read_dicom_series(folder).affine)
    assert volume.shape == (128, 128, 3)


def test_read_dicom_series_rejects_missing_folder(tmp_path):
    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(tmp_path / "absent")

    assert _message(info) == f"{tmp_path / 'absent'}: does not exist"


def test_read_dicom_series_rejects_folder_without_dicom_files(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"junk")

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: no DICOM files found"


def test_read_dicom_series_rejects_non_dicom_file_naming_it(tmp_path):
    folder = _axial_series(tmp_path / "ct", [0.0, 2.5])
    (folder / "notes.txt").write_text("scanned on Tuesday")

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: file notes.txt is not a DICOM file"


@pytest.mark.parametrize("source", NON_IMAGES, ids=lambda path: path.name)
def test_read_dicom_series_rejects_non_image_dicom(tmp_path, source):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(CT_SMALL, folder / "ct.dcm")
    shutil.copy(source, folder / "other.dcm")

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: file other.dcm has no pixel data (not an image)"


def test_read_dicom_series_rejects_two_series_without_naming_uids(tmp_path):
    folder = tmp_path / "two"
    _write(folder, "a.dcm", _slice((0, 0, 0)))
    _write(folder, "b.dcm", _slice((0, 0, 2.5)))
    _write(folder, "c.dcm", _slice((0, 0, 5), series=SECRETS[2]))

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: contains 2 different series; give one series per folder"


def test_read_dicom_series_rejects_two_slices_at_the_same_position(tmp_path):
    folder = tmp_path / "dup"
    _write(folder, "a.dcm", _slice((0, 0, 0)))
    _write(folder, "b.dcm", _slice((0, 0, 2.5)))
    _write(folder, "c.dcm", _slice((0, 0, 2.5)))

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: two slices at the same position (b.dcm and c.dcm)"


def test_read_dicom_series_rejects_non_uniform_slice_spacing(tmp_path):
    folder = _axial_series(tmp_path / "gap", [0.0, 2.5, 7.5])

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: slice spacing is not uniform (min 2.5 mm, max 5 mm)"


def test_read_dicom_series_rejects_mixed_orientations(tmp_path):
    folder = tmp_path / "turned"
    _write(folder, "a.dcm", _slice((0, 0, 0)))
    _write(folder, "b.dcm", _slice((0, 0, 2.5), orientation=OBLIQUE))

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: slices have different orientations (a.dcm vs b.dcm)"


def test_read_dicom_series_rejects_mixed_sizes_before_decoding_pixels(tmp_path):
    folder = tmp_path / "sizes"
    _write(folder, "a.dcm", _slice((0, 0, 0)))
    smaller = _slice((0, 0, 2.5))
    smaller.Rows = 64  # the pixel data no longer matches: decoding it would fail differently
    _write(folder, "b.dcm", smaller)

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: slices have different sizes (a.dcm vs b.dcm)"


def test_read_dicom_series_rejects_missing_image_position(tmp_path):
    folder = tmp_path / "nopos"
    _write(folder, "a.dcm", _slice((0, 0, 0)))
    headless = _slice((0, 0, 2.5))
    del headless.ImagePositionPatient
    _write(folder, "b.dcm", headless)

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info) == f"{folder}: file b.dcm is missing ImagePositionPatient"


def _cut_pixel_data(dataset):
    dataset.PixelData = dataset.PixelData[:1000]


def _drop_bits_allocated(dataset):
    del dataset.BitsAllocated


@pytest.mark.parametrize("damage", [_cut_pixel_data, _drop_bits_allocated])
def test_read_dicom_series_rejects_undecodable_pixel_data(tmp_path, damage):
    folder = tmp_path / "cut"
    _write(folder, "a.dcm", _slice((0, 0, 0)))
    broken = _slice((0, 0, 2.5))
    damage(broken)
    _write(folder, "b.dcm", broken)

    with pytest.raises(MedicalImageError) as info:
        read_dicom_series(folder)

    assert _message(info).startswith(
        f"{folder}: file b.dcm has pixel data that cannot be decoded ("
    )
