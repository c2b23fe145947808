import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    generate_uid,
)

from medai.io import (
    CorruptImageError,
    InvalidGeometryError,
    MedicalImageError,
    NotARadiographError,
    Radiograph,
    RadiographLimits,
    TooManyPixelsError,
    UnknownImageFormatError,
    UnsupportedImageError,
    read_radiograph,
)

SECRETS = ("Doe^Jane", "SECRET-ID-123", "19700101")
STORED_MAX = 4095  # 12-bit detector
# Each row holds the stored values 0, 65, ..., 4095: one ramp across the columns.
RAMP = np.tile(np.linspace(0, STORED_MAX, 64).round().astype(np.uint16), (48, 1))


def _dx_dataset(raw=RAMP, photometric="MONOCHROME2", **elements):
    """A DX 'for presentation' radiograph carrying patient identifiers, as a hospital sends it."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset("dx.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    dataset.PatientName, dataset.PatientID, dataset.PatientBirthDate = SECRETS
    dataset.Rows, dataset.Columns = raw.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = raw.astype(np.uint16).tobytes()
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    return dataset


def _bytes(dataset):
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _dx(raw=RAMP, photometric="MONOCHROME2", **elements):
    return _bytes(_dx_dataset(raw, photometric, **elements))


def _edited_testdata(name, **elements):
    dataset = pydicom.dcmread(get_testdata_file(name))
    for keyword, value in elements.items():
        setattr(dataset, keyword, value)
    return _bytes(dataset)


def _png(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width, height):
    """A valid PNG header declaring width x height, followed by almost no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _error(kind, source, **kwargs):
    with pytest.raises(kind) as caught:
        read_radiograph(source, **kwargs)
    text = str(caught.value)
    assert "\n" not in text
    assert not any(secret in text for secret in SECRETS)
    return text


# --- DICOM pixel pipeline -------------------------------------------------------------------


def test_monochrome2_without_window_is_min_max_scaled_with_bright_high_values():
    radiograph = read_radiograph(_dx())

    assert radiograph.source_format == "dicom"
    assert radiograph.pixels.dtype == np.float32
    assert radiograph.shape == (48, 64)
    np.testing.assert_allclose(radiograph.pixels[0], RAMP[0] / STORED_MAX, atol=1e-6)
    assert radiograph.spacing_mm is None


def test_monochrome1_is_inverted_so_that_one_is_still_bright():
    normal = read_radiograph(_dx(photometric="MONOCHROME2")).pixels
    inverted = read_radiograph(_dx(photometric="MONOCHROME1")).pixels

    assert inverted[0, 0] == 1.0  # the lowest stored value is white in MONOCHROME1
    assert inverted[0, -1] == 0.0
    np.testing.assert_allclose(inverted, 1.0 - normal, atol=1e-6)


@pytest.mark.parametrize(
    ("photometric", "low_side", "high_side"), [("MONOCHROME2", 0.0, 1.0), ("MONOCHROME1", 1.0, 0.0)]
)
def test_window_center_and_width_saturate_outside_and_map_the_centre_to_mid_grey(
    photometric, low_side, high_side
):
    raw = np.tile(np.array([0, 1500, 2000, 2500, 4095], np.uint16).repeat(8), (40, 1))

    pixels = read_radiograph(_dx(raw, photometric, WindowCenter=2000, WindowWidth=1000)).pixels[
        0, ::8
    ]

    # 0 and 1500 are at or below the window (centre - width/2); 2500 and 4095 above it.
    np.testing.assert_allclose(pixels, [low_side, low_side, 0.5, high_side, high_side], atol=1e-3)


def test_window_is_applied_in_rescaled_units():
    # Stored s maps to 2 s - 1000; the window 3000 +/- 500 covers stored 1750..2250.
    raw = np.tile(np.array([1000, 1750, 2000, 2250, 3000], np.uint16).repeat(8), (40, 1))
    dataset = _dx_dataset(
        raw, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=3000, WindowWidth=1000
    )

    pixels = read_radiograph(_bytes(dataset)).pixels[0, ::8]

    np.testing.assert_allclose(pixels, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-3)


def test_only_the_first_of_several_windows_is_used():
    raw = np.tile(np.array([1000, 2000, 3000], np.uint16).repeat(12), (36, 1))

    pixels = read_radiograph(_dx(raw, WindowCenter=[2000, 3000], WindowWidth=[2000, 10])).pixels[
        0, ::12
    ]

    np.testing.assert_allclose(pixels, [0.0, 0.5, 1.0], atol=1e-3)


def _voi_lut_item(lut):
    item = Dataset()
    item.LUTDescriptor = [len(lut), 0, 16]
    item.LUTData = np.asarray(lut, "<u2").tobytes()  # OW, as most modalities write it
    return item


def test_voi_lut_sequence_maps_through_the_table_and_wins_over_the_window():
    # A square-root LUT over 0..4095 whose entries only span 0..1000: scaled by its own range.
    lut = np.rint(np.sqrt(np.arange(STORED_MAX + 1) / STORED_MAX) * 1000).astype(int)
    dataset = _dx_dataset(WindowCenter=10, WindowWidth=2)
    dataset.VOILUTSequence = [_voi_lut_item(lut)]

    pixels = read_radiograph(_bytes(dataset)).pixels

    np.testing.assert_allclose(pixels[0], lut[RAMP[0]] / 1000, atol=1e-6)
    assert 0.4 < pixels[0, 16] < 0.6  # a quarter of the stored range is half as bright


def test_voi_lut_applies_to_rescaled_values_and_before_monochrome1_inversion():
    lut = np.linspace(0, 65535, 2048).round().astype(int)  # linear over rescaled 0..2047
    dataset = _dx_dataset(photometric="MONOCHROME1", RescaleSlope=0.5, RescaleIntercept=0)
    dataset.VOILUTSequence = [_voi_lut_item(lut)]

    pixels = read_radiograph(_bytes(dataset)).pixels

    # Values past the table's end (4095 * 0.5 rounds to 2048) take its last entry.
    expected = 1.0 - np.minimum(np.rint(RAMP[0] * 0.5), 2047) / 2047
    np.testing.assert_allclose(pixels[0], expected, atol=1e-4)


def test_a_constant_image_reads_as_black_rather_than_dividing_by_zero():
    pixels = read_radiograph(_dx(np.full((40, 40), 700, np.uint16))).pixels

    assert pixels.min() == pixels.max() == 0.0


# --- DICOM spacing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        ({"PixelSpacing": [0.15, 0.2], "ImagerPixelSpacing": [0.1, 0.1]}, (0.15, 0.2)),
        ({"ImagerPixelSpacing": [0.139, 0.14]}, (0.139, 0.14)),
        ({}, None),
    ],
)
def test_spacing_comes_from_pixel_spacing_else_imager_pixel_spacing(elements, expected):
    assert read_radiograph(_dx(**elements)).spacing_mm == expected


@pytest.mark.parametrize(
    ("spacing", "shown"), [([0.0, 0.1], "[0, 0.1]"), ([0.1], "0.1"), ([0.1, -0.2], "[0.1, -0.2]")]
)
def test_malformed_pixel_spacing_is_an_invalid_geometry_naming_the_value(spacing, shown):
    text = _error(InvalidGeometryError, _dx(PixelSpacing=spacing), name="bad.dcm")

    assert text == (
        f"bad.dcm: PixelSpacing is {shown}; expected two positive finite numbers (mm) "
        "between 0.0001 and 1e+32"
    )


# --- DICOM that is not a usable radiograph --------------------------------------------------


def test_ct_slice_is_not_a_radiograph():
    text = _error(NotARadiographError, Path(get_testdata_file("CT_small.dcm")), name="ct.dcm")

    assert text == "ct.dcm: Modality CT is not a radiograph (expected one of CR, DX, RG)"


@pytest.mark.parametrize(
    ("file_name", "sop_class"),
    [
        ("waveform_ecg.dcm", "12-lead ECG Waveform Storage"),
        ("rtplan.dcm", "RT Plan Storage"),
        ("test-SR.dcm", "Comprehensive SR Storage"),
    ],
)
def test_objects_without_pixel_data_have_no_image(file_name, sop_class):
    path = Path(get_testdata_file(file_name))

    text = _error(NotARadiographError, path)

    assert text == f"{path}: has no image (PixelData): its SOP class is {sop_class}"


def test_modalities_are_checked_against_the_callers_list():
    limits = RadiographLimits(allowed_modalities=("DX",))

    text = _error(NotARadiographError, _dx(Modality="CR"), name="cr.dcm", limits=limits)

    assert text == "cr.dcm: Modality CR is not a radiograph (expected one of DX)"
    assert read_radiograph(_dx(Modality="CR")).shape == (48, 64)  # CR is allowed by default


def test_missing_modality_is_refused():
    dataset = _dx_dataset()
    del dataset.Modality

    text = _error(NotARadiographError, _bytes(dataset), name="x.dcm")

    assert text == "x.dcm: has no Modality (expected one of CR, DX, RG)"


def test_rgb_dicom_is_refused_as_not_grayscale():
    rgb = _edited_testdata("SC_rgb_small_odd.dcm", Modality="DX")

    text = _error(UnsupportedImageError, rgb, name="rgb.dcm")

    assert text == "rgb.dcm: expected grayscale MONOCHROME1/MONOCHROME2, got RGB"


def test_multi_frame_dicom_is_refused_before_decoding():
    # Pixel data for one frame only: decoding would fail, so the header check came first.
    text = _error(UnsupportedImageError, _dx(NumberOfFrames=3), name="mf.dcm")

    assert text == "mf.dcm: has 3 frames; expected a single-frame image"


def test_too_small_dicom_is_refused():
    text = _error(UnsupportedImageError, _dx(RAMP[:20, :40]), name="small.dcm")

    assert text == "small.dcm: image is 20 x 40 pixels; expected at least 32 on each side"


def test_too_many_pixels_are_refused_from_the_header_before_decoding():
    dataset = _dx_dataset()
    dataset.Rows, dataset.Columns = 5000, 5000  # the 6 kB of pixel data could never fill this

    text = _error(TooManyPixelsError, _bytes(dataset), name="big.dcm")

    assert text == "big.dcm: image has 5000 x 5000 = 25000000 pixels; the limit is 16777216"


def test_truncated_pixel_data_is_a_clear_error():
    dataset = _dx_dataset()
    dataset.PixelData = dataset.PixelData[:-100]

    text = _error(CorruptImageError, _bytes(dataset), name="cut.dcm")

    assert text == "cut.dcm: pixel data is truncated (expected 6144 bytes, got 6044)"


def test_compressed_pixel_data_that_cannot_be_decoded_is_a_clear_error():
    dataset = _dx_dataset()
    dataset.file_meta.TransferSyntaxUID = JPEGLSLossless
    dataset.PixelData = encapsulate([b"\xff\xd8 not a JPEG-LS stream"])

    text = _error(CorruptImageError, _bytes(dataset), name="jls.dcm")

    assert text == (
        "jls.dcm: pixel data in JPEG-LS Lossless Image Compression cannot be decoded "
        "(no decoder installed for it, or the data is corrupt)"
    )


def test_dicom_is_detected_from_content_not_from_the_file_name(tmp_path):
    path = tmp_path / "looks_like.png"
    path.write_bytes(_dx())

    radiograph = read_radiograph(path)

    assert radiograph.source_format == "dicom"


def test_dicom_without_preamble_and_file_meta_is_read():
    dataset = Dataset()
    dataset.update(_dx_dataset(photometric="MONOCHROME1"))
    buffer = io.BytesIO()
    dataset.save_as(buffer, implicit_vr=True, little_endian=True)

    pixels = read_radiograph(buffer.getvalue()).pixels

    np.testing.assert_allclose(pixels[0], 1.0 - RAMP[0] / STORED_MAX, atol=1e-6)


def test_preambleless_non_image_dicom_is_recognised_as_dicom():
    path = Path(get_testdata_file("ExplVR_LitEndNoMeta.dcm"))

    text = _error(NotARadiographError, path)

    assert "has no image (PixelData)" in text


@pytest.mark.parametrize(
    "dataset_change",
    [
        {"Modality": "CT"},
        {"NumberOfFrames": 2},
        {"PhotometricInterpretation": "RGB"},
        {"Rows": 8},
        {"PixelSpacing": [0.0, 1.0]},
        {"PixelData": b"\0" * 10},
    ],
)
def test_error_messages_never_carry_patient_identifiers(tmp_path, dataset_change):
    path = tmp_path / "scan.dcm"
    path.write_bytes(_dx(**dataset_change))

    with pytest.raises(MedicalImageError) as caught:
        read_radiograph(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert not any(secret in str(caught.value) for secret in SECRETS)
    assert SECRETS[0] in path.read_text(encoding="latin-1")  # they were there to leak


# --- PNG and JPEG ----------------------------------------------------------------------------


def test_8bit_grayscale_png_is_read_as_is_scaled_to_unit_range(tmp_path):
    array = (np.arange(40 * 50) % 256).astype(np.uint8).reshape(40, 50)
    path = tmp_path / "image.dcm"  # the name lies; the content decides
    path.write_bytes(_png(array))

    radiograph = read_radiograph(path)

    assert radiograph.source_format == "png"
    assert radiograph.spacing_mm is None
    np.testing.assert_array_equal(radiograph.pixels, array.astype(np.float32) / 255)


def test_8bit_grayscale_jpeg_is_read():
    array = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))

    radiograph = read_radiograph(_jpeg(array))

    assert radiograph.source_format == "jpeg"
    assert radiograph.shape == (48, 64)
    assert np.abs(radiograph.pixels * 255 - array).mean() < 2  # lossy, but close


def test_16bit_png_is_refused_because_it_has_no_window():
    array = np.arange(40 * 40, dtype=np.uint16).reshape(40, 40)

    text = _error(UnsupportedImageError, _png(array), name="deep.png")

    assert text == (
        "deep.png: is a 16-bit PNG, which carries no window/VOI information to map it to grey "
        "levels; convert it to 8-bit grayscale or send the DICOM"
    )


@pytest.mark.parametrize(
    ("image", "described"),
    [
        (Image.new("RGB", (40, 40)), "RGB"),
        (Image.new("RGBA", (40, 40)), "RGBA"),
        (Image.new("LA", (40, 40)), "LA (grayscale with alpha)"),
        (Image.new("L", (40, 40)).convert("P"), "P (palette colour)"),
        (Image.new("1", (40, 40)), "1-bit black and white"),
    ],
)
def test_colour_and_non_8bit_pngs_are_refused(image, described):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    text = _error(UnsupportedImageError, buffer.getvalue(), name="x.png")

    assert text == f"x.png: expected an 8-bit grayscale image, got {described}"


def test_rgb_jpeg_is_refused():
    text = _error(UnsupportedImageError, _jpeg(np.zeros((40, 40, 3), np.uint8)), name="c.jpg")

    assert text == "c.jpg: expected an 8-bit grayscale image, got RGB"


def test_1x1_png_is_too_small():
    text = _error(UnsupportedImageError, _png(np.zeros((1, 1), np.uint8)), name="dot.png")

    assert text == "dot.png: image is 1 x 1 pixels; expected at least 32 on each side"


def test_truncated_png_is_a_clear_error():
    data = _png((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64))

    text = _error(CorruptImageError, data[: len(data) // 2], name="cut.png")

    assert text.startswith("cut.png: PNG pixel data cannot be decoded (")


def test_png_whose_header_claims_more_than_max_pixels_is_refused_before_decoding():
    # Only 64 bytes of pixel data follow: decoding would fail, so the size check came first.
    text = _error(TooManyPixelsError, _png_claiming(5000, 5000), name="bomb.png")

    assert text == "bomb.png: image has 5000 x 5000 = 25000000 pixels; the limit is 16777216"


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_pillows_own_bomb_guard_becomes_our_error_not_a_warning_crash(side):
    # With our limit raised past Pillow's, its guard fires inside open(): a warning (an error
    # under this test suite's filters) at 100 Mpixels, a DecompressionBombError at 400.
    limits = RadiographLimits(max_pixels=10**9)

    text = _error(TooManyPixelsError, _png_claiming(side, side), name="bomb.png", limits=limits)

    assert text == "bomb.png: PNG header declares too many pixels"


def test_pillow_bomb_warning_is_not_needed_to_refuse_a_bomb():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # production: warnings are not errors
        text = _error(TooManyPixelsError, _png_claiming(10_000, 10_000), name="bomb.png")

    assert text.endswith("the limit is 16777216")


# --- unknown or missing input ----------------------------------------------------------------


def test_random_bytes_are_an_unknown_format():
    data = np.random.default_rng(0).bytes(2000)

    text = _error(UnknownImageFormatError, data, name="upload")

    assert text == (
        "upload: is not a DICOM, PNG or JPEG file (its content matches none of their signatures)"
    )


def test_empty_input_is_an_unknown_format():
    assert _error(UnknownImageFormatError, b"") == "<bytes>: is empty"


def test_missing_file_and_folder_are_errors(tmp_path):
    assert _error(MedicalImageError, tmp_path / "nope.png").endswith("nope.png: does not exist")
    assert _error(MedicalImageError, tmp_path).endswith("is not a file (expected one image file)")


# --- the types themselves --------------------------------------------------------------------


def test_radiograph_from_uint8_scales_and_keeps_no_spacing():
    radiograph = Radiograph.from_uint8(np.array([[0, 51, 255]], np.uint8))

    np.testing.assert_allclose(radiograph.pixels, [[0.0, 0.2, 1.0]])
    assert (radiograph.source_format, radiograph.spacing_mm) == ("npz", None)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((2, 2, 2), np.float32),
        np.zeros((2, 2), np.float64),
        np.full((2, 2), 1.5, np.float32),
    ],
)
def test_radiograph_rejects_pixels_that_break_the_invariants(pixels):
    with pytest.raises(ValueError, match="pixels must"):
        Radiograph(pixels, None, "png")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_size": 0}, "min_size must be >= 1"),
        ({"min_size": 64, "max_pixels": 100}, "max_pixels must be >= min_size"),
        ({"allowed_modalities": ()}, "allowed_modalities must name"),
    ],
)
def test_limits_reject_impossible_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RadiographLimits(**kwargs)
