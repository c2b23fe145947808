import gzip
import io
import pickle
import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import medai.io.dicom
import medai.serving.uploads
from medai.io import MedicalImageError, read_dicom_series, read_nifti
from medai.io.dicom import TooManyVoxelsError
from medai.serving.uploads import (
    MAX_FILES,
    UploadError,
    UploadLimits,
    UploadPart,
    read_volume_upload,
)

ANATOMICAL = Path(data_path) / "anatomical.nii"
EXAMPLE_4D = Path(data_path) / "example4d.nii.gz"
CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MR_SMALL = Path(get_testdata_file("MR_small.dcm"))
ECG = Path(get_testdata_file("waveform_ecg.dcm"))

LIMITS = UploadLimits(max_bytes=64 << 20, max_voxels=10_000_000)
# What must never reach a client: patient identifiers (in DICOM headers, client file names and
# zip entry names) and server paths.
PATIENT_NAME, PATIENT_ID = "Doe^Jane", "PHI-123"
CLIENT_NAME = "Doe^Jane PHI-123"
OBLIQUE_AFFINE = np.array(
    [
        [0.75, -1.0, 0.0, -90.5],
        [1.0, 0.75, 0.0, 12.25],
        [0.0, 0.0, 2.5, -30.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


@pytest.fixture(autouse=True)
def scratch(tmp_path, monkeypatch):
    """Route tempfile into a folder of our own and check nothing is left in it."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []


# --- helpers ------------------------------------------------------------------------------


def _parts(*datas):
    return [UploadPart(f"{CLIENT_NAME} {index}.dcm", data) for index, data in enumerate(datas)]


def _upload(*datas, limits=LIMITS):
    return read_volume_upload(_parts(*datas), limits)


def _refuse(*datas, status, code, limits=LIMITS, scratch=None):
    with pytest.raises(UploadError) as info:
        _upload(*datas, limits=limits)
    error = info.value
    assert (error.status, error.code) == (status, code)
    assert str(error) == error.message
    assert error.message
    assert "\n" not in error.message
    for secret in (PATIENT_NAME, PATIENT_ID, "Doe", "slice_", "medai-upload", tempfile.tempdir):
        assert secret not in error.message
    if scratch is not None:
        assert str(scratch) not in error.message
    return error.message


def _nifti(array, affine=OBLIQUE_AFFINE, *, gz=False, image_class=nib.Nifti1Image):
    raw = image_class(array, affine).to_bytes()
    return gzip.compress(raw) if gz else raw


def _assert_same(volume, expected):
    assert volume.array.dtype == np.float32
    assert volume.shape == expected.shape
    np.testing.assert_array_equal(volume.affine, expected.affine)
    np.testing.assert_array_equal(volume.array, expected.array)


def _header_bytes(shape, dtype=np.int16):
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header["vox_offset"] = 352
    return header.binaryblock + b"\0" * 4


def _gzip_bomb(prefix, megabytes):
    """A valid gzip stream of prefix + megabytes MiB of zeros, built in milliseconds.

    After a full flush deflate forgets its history, so every further MiB of zeros compresses
    to the same bytes: compress one, repeat it.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    size = (len(prefix) + megabytes * len(zeros)) & 0xFFFFFFFF
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size)
    return gzip_header + head + block * megabytes + tail + trailer


def _ct_slice(z, *, series="1.2.826.0.1.3680043.8.498.77"):
    dataset = pydicom.dcmread(CT_SMALL)
    dataset.ImagePositionPatient = [-158.1358, -179.0358, z]
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.SeriesInstanceUID = series
    dataset.PatientName, dataset.PatientID = PATIENT_NAME, PATIENT_ID
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ct_series():
    """Three CT_small slices 5 mm apart, in scrambled order."""
    return [_ct_slice(10.0), _ct_slice(0.0), _ct_slice(5.0)]


def _on_disk(folder, datas):
    folder.mkdir()
    for index, data in enumerate(datas):
        (folder / f"{CLIENT_NAME} {index}.dcm").write_bytes(data)
    return read_dicom_series(folder)


def _zip(entries, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


# --- limits and errors --------------------------------------------------------------------


@pytest.mark.parametrize(("max_bytes", "max_voxels"), [(0, 1), (1, 0), (-5, 10), (True, 10)])
def test_limits_must_be_positive_integers(max_bytes, max_voxels):
    with pytest.raises(ValueError, match="positive integer"):
        UploadLimits(max_bytes=max_bytes, max_voxels=max_voxels)


def test_upload_error_status_follows_code_and_survives_pickling():
    error = UploadError("too_many_voxels", "part 1 has\n9 voxels")

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert (copy.status, copy.code, copy.message) == (413, "too_many_voxels", "part 1 has 9 voxels")
    assert UploadError("unsupported_media_type", "x").status == 415
    assert UploadError("empty_upload", "x").status == 422


# --- NIfTI --------------------------------------------------------------------------------


def test_packaged_3d_nifti_reads_like_read_nifti():
    volume = _upload(ANATOMICAL.read_bytes())

    _assert_same(volume, read_nifti(ANATOMICAL))


@pytest.mark.parametrize("gz", [False, True], ids=["nii", "nii.gz"])
@pytest.mark.parametrize(
    ("array", "image_class"),
    [
        (np.arange(120, dtype=np.float32).reshape(4, 5, 6) / 7, nib.Nifti1Image),
        (np.arange(-60, 60, dtype=np.int16).reshape(4, 5, 6) * 9, nib.Nifti1Image),
        (np.arange(120, dtype=np.float32).reshape(4, 5, 6, 1), nib.Nifti1Image),
        (np.arange(120, dtype=np.float64).reshape(6, 5, 4), nib.Nifti2Image),
    ],
    ids=["float32", "int16", "4d-t1", "nifti2"],
)
def test_nifti_upload_reads_like_read_nifti_on_disk(tmp_path, array, image_class, gz):
    data = _nifti(array, gz=gz, image_class=image_class)
    path = tmp_path / ("scan.nii.gz" if gz else "scan.nii")
    path.write_bytes(data)

    volume = _upload(data)

    _assert_same(volume, read_nifti(path))
    np.testing.assert_array_equal(volume.affine, OBLIQUE_AFFINE)
    assert volume.shape == array.shape[:3]


def test_big_endian_nifti_is_recognised(tmp_path):
    array = np.arange(24, dtype=">i2").reshape(2, 3, 4)
    header = nib.Nifti1Header(endianness=">")
    image = nib.Nifti1Image(array, OBLIQUE_AFFINE, header=header)
    data = image.to_bytes()
    assert data[:4] == (348).to_bytes(4, "big")
    (tmp_path / "scan.nii").write_bytes(data)

    _assert_same(_upload(data), read_nifti(tmp_path / "scan.nii"))


def test_4d_nifti_is_invalid_dimensions_with_its_shape():
    message = _refuse(EXAMPLE_4D.read_bytes(), status=422, code="invalid_dimensions")

    assert "part 1" in message
    assert "(128, 96, 24, 2)" in message


def test_nifti_with_nan_is_unreadable():
    array = np.zeros((3, 3, 3), np.float32)
    array[1, 1, 1] = np.nan

    message = _refuse(_nifti(array), status=422, code="unreadable_image")

    assert "NaN" in message


@pytest.mark.parametrize("keep", [0.5, 0.01], ids=["in-voxels", "in-header"])
@pytest.mark.parametrize("gz", [False, True], ids=["nii", "nii.gz"])
def test_truncated_nifti_is_unreadable(gz, keep):
    array = np.random.default_rng(0).random((20, 20, 20), np.float32)
    data = _nifti(array, gz=gz)
    if not gz and keep < 1:
        keep = 0.5  # an uncompressed file cut inside its header is no NIfTI at all (415)

    message = _refuse(data[: int(len(data) * keep)], status=422, code="unreadable_image")

    assert "truncated" in message


def test_header_claiming_2000_cubed_voxels_is_refused_before_decoding(monkeypatch):
    def never(*_args, **_kwargs):
        pytest.fail("pixel data decoded")

    monkeypatch.setattr(nib.Nifti1Image, "from_bytes", never)
    data = _header_bytes((2000, 2000, 2000)) + bytes(100)

    message = _refuse(data, status=413, code="too_many_voxels")

    assert "8000000000 voxels" in message
    assert "10000000" in message


def test_header_whose_image_exceeds_max_bytes_is_refused():
    data = _header_bytes((100, 100, 100), np.float64)  # 8 MB of voxels, under the voxel limit

    message = _refuse(
        data, status=413, code="payload_too_large", limits=UploadLimits(1 << 20, 10**7)
    )

    assert "8000352 bytes" in message


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "code"),
    [
        (42, "<h", -5, "invalid_dimensions"),  # dim[1] negative
        (40, "<h", 7, "invalid_dimensions"),  # seven dimensions
        (44, "<h", 0, "invalid_dimensions"),  # dim[2] zero: an empty image
        (70, "<h", 9999, "unreadable_image"),  # unknown datatype code
        (70, "<h", 32, "unreadable_image"),  # complex64: no real values
        (108, "<f", 0.0, "unreadable_image"),  # voxels would start inside the header
        (344, "4s", b"ni1\0", "unreadable_image"),  # header of a .hdr/.img pair
    ],
    ids=["negative-dim", "7d", "empty-axis", "datatype", "complex", "offset", "pair"],
)
def test_hostile_nifti_headers_are_refused(offset, fmt, value, code):
    data = bytearray(_nifti(np.zeros((3, 4, 5), np.float32)))
    struct.pack_into(fmt, data, offset, value)

    message = _refuse(bytes(data), status=422, code=code)

    assert message.startswith("part 1 ")


def test_gzip_bomb_behind_a_small_header_stops_early_without_allocating():
    prefix = _nifti(np.zeros((10, 10, 10), np.float32))
    bomb = _gzip_bomb(prefix, megabytes=200)
    assert len(bomb) < 1 << 20

    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = _refuse(bomb, status=413, code="payload_too_large")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    assert time.perf_counter() - started < 1.0
    assert peak < 8 << 20
    assert "decompresses to more than" in message


@pytest.mark.parametrize(
    ("shape", "dtype", "code"),
    [
        ((1000, 1000, 1000), np.uint8, "too_many_voxels"),
        ((400, 400, 60), np.float64, "payload_too_large"),  # 9.6 M voxels, 77 MB > 64 MB
    ],
)
def test_gzip_bomb_behind_a_huge_header_is_refused_from_the_header(shape, dtype, code):
    bomb = _gzip_bomb(_header_bytes(shape, dtype), megabytes=200)

    tracemalloc.start()
    started = time.perf_counter()
    try:
        _refuse(bomb, status=413, code=code)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    assert time.perf_counter() - started < 1.0
    assert peak < 8 << 20


def test_multi_member_gzip_is_read_whole(tmp_path):
    raw = _nifti(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    data = gzip.compress(raw[:500]) + gzip.compress(raw[500:])
    (tmp_path / "scan.nii.gz").write_bytes(data)

    _assert_same(_upload(data), read_nifti(tmp_path / "scan.nii.gz"))


def test_corrupt_gzip_is_unreadable():
    data = bytearray(gzip.compress(_nifti(np.zeros((3, 4, 5), np.float32))))
    data[10:40] = bytes(range(30))

    _refuse(bytes(data), status=422, code="unreadable_image")


def test_two_nifti_files_are_refused():
    data = ANATOMICAL.read_bytes()

    message = _refuse(data, data, status=422, code="unreadable_image")

    assert "send one" in message


# --- request-level checks -----------------------------------------------------------------


def test_no_parts_is_an_empty_upload():
    with pytest.raises(UploadError) as info:
        read_volume_upload([], LIMITS)

    assert (info.value.status, info.value.code) == (422, "empty_upload")


def test_empty_part_is_an_empty_upload():
    assert "part 1" in _refuse(b"", status=422, code="empty_upload")
    assert "part 2" in _refuse(ANATOMICAL.read_bytes(), b"", status=422, code="empty_upload")


@pytest.mark.parametrize(
    "data",
    [
        np.random.default_rng(0).bytes(4096),
        gzip.compress(b"name,age\nDoe^Jane,42\n" * 50),
        CT_SMALL.read_bytes()[132:],  # DICOM without preamble: refused on purpose
        b"P",
    ],
    ids=["random", "gzip-text", "dicom-without-preamble", "one-byte"],
)
def test_unknown_content_is_unsupported_media_type(data):
    message = _refuse(data, status=415, code="unsupported_media_type")

    assert "NIfTI" in message
    assert "DICOM" in message


def test_a_nifti_named_like_dicom_is_still_read_as_nifti():
    parts = [UploadPart("scan.dcm", ANATOMICAL.read_bytes())]

    assert read_volume_upload(parts, LIMITS).shape == (33, 41, 25)


def test_request_over_max_bytes_is_payload_too_large():
    data = ANATOMICAL.read_bytes()

    _refuse(data, status=413, code="payload_too_large", limits=UploadLimits(len(data) - 1, 10**7))


def test_too_many_parts_is_payload_too_large():
    _refuse(*([b"x"] * (MAX_FILES + 1)), status=413, code="payload_too_large")


def test_nifti_and_dicom_together_are_refused():
    message = _refuse(
        ANATOMICAL.read_bytes(), CT_SMALL.read_bytes(), status=422, code="unreadable_image"
    )

    assert "part 1 is a NIfTI file but part 2 is a DICOM file" in message


# --- DICOM as several parts ---------------------------------------------------------------


def test_dicom_parts_read_like_read_dicom_series(tmp_path, ct_series, scratch, monkeypatch):
    folders = []

    def spy(folder, **kwargs):
        folders.append(Path(folder))
        assert sorted(path.name for path in Path(folder).iterdir()) == [
            "slice_0000.dcm",
            "slice_0001.dcm",
            "slice_0002.dcm",
        ]
        return read_dicom_series(folder, **kwargs)

    monkeypatch.setattr(medai.serving.uploads, "read_dicom_series", spy)

    volume = _upload(*ct_series)

    _assert_same(volume, _on_disk(tmp_path / "disk", ct_series))
    assert volume.shape == (128, 128, 3)
    assert [folder.parent for folder in folders] == [scratch]
    assert not folders[0].exists()


@pytest.mark.parametrize("path", [CT_SMALL, MR_SMALL], ids=["CT_small", "MR_small"])
def test_single_dicom_part_is_a_one_slice_series(tmp_path, path):
    volume = _upload(path.read_bytes())

    _assert_same(volume, _on_disk(tmp_path / "disk", [path.read_bytes()]))
    assert volume.shape[2] == 1


def test_non_image_dicom_is_unreadable():
    message = _refuse(ECG.read_bytes(), status=422, code="unreadable_image")

    assert "part 1 has no pixel data (not an image)" in message


def test_non_image_dicom_in_a_series_is_named_by_position(ct_series):
    message = _refuse(*ct_series[:2], ECG.read_bytes(), status=422, code="unreadable_image")

    assert "part 3 has no pixel data" in message


def test_two_slices_at_one_position_names_the_parts(ct_series):
    message = _refuse(ct_series[0], ct_series[1], ct_series[0], status=422, code="unreadable_image")

    assert "(part 1 and part 3)" in message


def test_slices_of_different_series_are_refused(ct_series):
    other = _ct_slice(15.0, series="1.2.826.0.1.3680043.8.498.78")

    message = _refuse(*ct_series, other, status=422, code="unreadable_image")

    assert "2 different series" in message


def test_dicom_series_over_the_voxel_limit_is_refused_before_decoding(ct_series, monkeypatch):
    def never(*_args):
        pytest.fail("pixel data decoded")

    monkeypatch.setattr(medai.io.dicom, "_read_pixels", never)
    limits = UploadLimits(max_bytes=LIMITS.max_bytes, max_voxels=128 * 128 * 3 - 1)

    message = _refuse(*ct_series, status=413, code="too_many_voxels", limits=limits)
    zipped = _zip([(f"{index}.dcm", data) for index, data in enumerate(ct_series)])
    zip_message = _refuse(zipped, status=413, code="too_many_voxels", limits=limits)

    assert message == zip_message
    assert "49152 voxels; the limit is 49151" in message


def test_read_dicom_series_max_voxels(tmp_path, ct_series, monkeypatch):
    expected = _on_disk(tmp_path / "disk", ct_series)
    assert read_dicom_series(tmp_path / "disk", max_voxels=128 * 128 * 3).shape == expected.shape
    monkeypatch.setattr(medai.io.dicom, "_read_pixels", None)  # any decode would now crash

    with pytest.raises(TooManyVoxelsError, match="series has 49152 voxels; the limit is 1000"):
        read_dicom_series(tmp_path / "disk", max_voxels=1000)
    assert issubclass(TooManyVoxelsError, MedicalImageError)


# --- DICOM as a zip -----------------------------------------------------------------------


def test_dicom_zip_reads_like_read_dicom_series(tmp_path, ct_series):
    entries = [
        ("Doe^Jane/", b""),
        *[(f"Doe^Jane/{PATIENT_ID} {index}.dcm", data) for index, data in enumerate(ct_series)],
        ("__MACOSX/Doe^Jane/._slice.dcm", b"resource fork"),
        ("Doe^Jane/.DS_Store", b"finder"),
        ("DICOMDIR", b"index"),
    ]

    volume = _upload(_zip(entries))

    _assert_same(volume, _on_disk(tmp_path / "disk", ct_series))


def test_non_image_dicom_in_a_zip_is_named_by_entry_number(ct_series):
    entries = [("Doe^Jane/", b""), ("a.dcm", ct_series[0]), ("Doe^Jane/ecg.dcm", ECG.read_bytes())]

    message = _refuse(_zip(entries), status=422, code="unreadable_image")

    assert "entry 3 has no pixel data" in message


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "ok/../../evil.dcm", "/etc/evil.dcm", "C:\\evil.dcm", "..\\evil.dcm"]
)
def test_zip_entry_escaping_the_folder_is_refused(ct_series, name):
    data = _zip([("a.dcm", ct_series[0]), (name, ct_series[1])])

    message = _refuse(data, status=422, code="unreadable_image")

    assert "entry 2" in message
    assert "evil" not in message


def test_zip_bomb_entry_is_refused_from_the_directory():
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("scan.dcm", "w") as member,
    ):
        for _ in range(20):
            member.write(bytes(1 << 20))
    started = time.perf_counter()

    message = _refuse(buffer.getvalue(), status=413, code="payload_too_large")

    assert time.perf_counter() - started < 1.0
    assert "entry 1" in message


def test_zip_expanding_past_max_bytes_is_refused(ct_series):
    data = _zip([(f"{index}.dcm", slice_) for index, slice_ in enumerate(ct_series)])
    expanded = sum(len(slice_) for slice_ in ct_series)
    limits = UploadLimits(max_bytes=(len(data) + expanded) // 2, max_voxels=10**7)
    assert len(data) < limits.max_bytes < expanded

    message = _refuse(data, status=413, code="payload_too_large", limits=limits)

    assert f"expands to {expanded} bytes" in message


def test_zip_with_too_many_entries_is_refused():
    data = _zip([(f"{index}.dcm", b"") for index in range(MAX_FILES + 1)], zipfile.ZIP_STORED)

    _refuse(data, status=413, code="payload_too_large")


def test_damaged_zip_entry_is_unreadable(ct_series):
    data = bytearray(_zip([("a.dcm", ct_series[0]), ("b.dcm", ct_series[1])]))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("b.dcm")
    start = info.header_offset + 30 + len("b.dcm")
    data[start + 200 : start + 260] = bytes(60)

    message = _refuse(bytes(data), status=422, code="unreadable_image")

    assert "entry 2" in message


def test_not_really_a_zip_is_unreadable():
    _refuse(b"PK\x03\x04" + bytes(200), status=422, code="unreadable_image")


@pytest.mark.parametrize(
    "entries",
    [[], [("folder/", b""), ("__MACOSX/._a.dcm", b"x"), (".hidden.dcm", b"x")]],
    ids=["no-entries", "only-clutter"],
)
def test_zip_without_files_is_an_empty_upload(entries):
    _refuse(_zip(entries), status=422, code="empty_upload")


def test_two_zips_are_refused(ct_series):
    data = _zip([("a.dcm", ct_series[0])])

    _refuse(data, data, status=422, code="unreadable_image")


def test_zip_of_non_dicom_files_is_unreadable():
    message = _refuse(_zip([("notes.txt", b"Doe^Jane")]), status=422, code="unreadable_image")

    assert "entry 1 is not a DICOM file" in message
