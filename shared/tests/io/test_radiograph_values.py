"""A radiograph's rescale, window, VOI LUT and spacing are checked before any pixel is decoded."""

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from medai.hostile import put_raw
from medai.io import (
    InvalidGeometryError,
    InvalidHeaderValueError,
    MedicalImageError,
    read_radiograph,
)

SECRETS = ("Doe^Jane", "SECRET-ID-123")
EDGE = 32
STORED = np.tile(np.linspace(0, 4095, EDGE).round().astype(np.uint16), (EDGE, 1))
SLOPE_RULE = "expected a finite non-zero number with 1e-09 <= |value| <= 1e+06"
WINDOW_RULE = (
    "expected a finite centre with |value| <= 1e+12 and a width between 1 and 1e+12 (LINEAR)"
)


def voi_lut(entries: int, first: int, bits: int, data: list[int]) -> Dataset:
    item = Dataset()
    # "US or SS": a negative first value mapped is stored signed.
    item.add_new("LUTDescriptor", "SS" if first < 0 else "US", [entries, first, bits])
    item.add_new("LUTData", "US", data)
    return item


def dx(
    *,
    photometric: str = "MONOCHROME2",
    voi: Dataset | None = None,
    values: dict[str, object] | None = None,
    **raw: str,
) -> bytes:
    """A 32x32 12-bit DX radiograph (a ramp across the columns) with raw text values."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset("dx.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    dataset.PatientName, dataset.PatientID = SECRETS
    dataset.Rows, dataset.Columns = STORED.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = STORED.tobytes()
    if voi is not None:
        dataset.VOILUTSequence = [voi]
    for keyword, value in (values or {}).items():
        setattr(dataset, keyword, value)
    for keyword, text in raw.items():
        put_raw(dataset, keyword, text)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def refusal(kind, data: bytes) -> str:
    with pytest.raises(kind) as caught:
        read_radiograph(data, name="file")
    text = str(caught.value)
    assert "\n" not in text
    assert not any(secret in text for secret in SECRETS)
    return text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("nan", "nan"),
        ("inf", "inf"),
        ("0", "0"),
        ("1e308", "1e+308"),
        ("abc", "'abc'"),
        ("", "empty"),
    ],
)
def test_unusable_rescale_slope_is_refused_instead_of_nan_pixels(text, shown):
    """A NaN slope used to reach Radiograph's own check as a plain ValueError: a 500."""
    message = refusal(InvalidHeaderValueError, dx(RescaleSlope=text, RescaleIntercept="0"))
    assert message == f"file: RescaleSlope is {shown}; {SLOPE_RULE}"


def test_unusable_rescale_intercept_is_refused():
    message = refusal(InvalidHeaderValueError, dx(RescaleSlope="1", RescaleIntercept="-1e308"))
    assert message == (
        "file: RescaleIntercept is -1e+308; expected a finite number with |value| <= 1e+06"
    )


@pytest.mark.parametrize(
    ("center", "width", "shown"),
    [
        ("nan", "400", "nan/400"),
        ("2048", "inf", "2048/inf"),
        ("2048", "0", "2048/0"),
        ("2048", "-400", "2048/-400"),
        ("2048", "1e308", "2048/1e+308"),
        ("1e308", "400", "1e+308/400"),
        ("abc", "400", "'abc'/400"),
    ],
)
def test_unusable_window_is_refused_naming_both_values(center, width, shown):
    message = refusal(InvalidHeaderValueError, dx(WindowCenter=center, WindowWidth=width))
    assert message == f"file: WindowCenter/WindowWidth is {shown}; {WINDOW_RULE}"


def test_an_undefined_voi_lut_function_is_refused():
    data = dx(WindowCenter="2048", WindowWidth="400", VOILUTFunction="GAMMA")
    message = refusal(InvalidHeaderValueError, data)
    assert message == "file: VOILUTFunction is 'GAMMA'; expected LINEAR, LINEAR_EXACT or SIGMOID"


def test_a_sigmoid_window_far_from_every_pixel_saturates_without_numpy_warnings():
    """exp() overflows for pixels far below the centre: saturation, not an error."""
    radiograph = read_radiograph(
        dx(WindowCenter="40000", WindowWidth="1", VOILUTFunction="SIGMOID")
    )
    assert radiograph.pixels.max() == 0.0


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (
            voi_lut(4096, 0, 16, [0, 1]),
            "VOILUTSequence[0].LUTData has 2 entries; its LUTDescriptor says 4096",
        ),
        (
            voi_lut(2, 0, 9, [0, 1]),
            (
                "VOILUTSequence[0].LUTDescriptor is [2, 0, 9]; expected three integers: entries "
                "(0 means 65536), first stored value mapped, bits per entry "
                "(8, 10, 11, 12, 13, 14, 15, 16)"
            ),
        ),
    ],
)
def test_a_voi_lut_with_an_absurd_descriptor_is_refused(item, reason):
    assert refusal(InvalidHeaderValueError, dx(voi=item)) == f"file: {reason}"


def test_bits_stored_beyond_bits_allocated_is_refused():
    message = refusal(InvalidHeaderValueError, dx(values={"BitsStored": 20}))
    assert message == "file: BitsStored is 20; expected 1 to BitsAllocated (16)"


@pytest.mark.parametrize(
    ("keyword", "text", "shown"),
    [
        ("PixelSpacing", "1e308\\0.1", "[1e+308, 0.1]"),
        ("PixelSpacing", "nan\\0.1", "[nan, 0.1]"),
        ("ImagerPixelSpacing", "0\\0.1", "[0, 0.1]"),
        ("PixelSpacing", "abc\\0.1", "['abc', 0.1]"),
    ],
)
def test_unusable_pixel_spacing_is_an_invalid_geometry(keyword, text, shown):
    message = refusal(InvalidGeometryError, dx(**{keyword: text}))
    assert message == (
        f"file: {keyword} is {shown}; expected two positive finite numbers (mm) "
        "between 0.0001 and 1e+32"
    )


# --- Property: whatever the header says, grey levels in [0, 1] or a MedicalImageError --------

NUMBER_TEXT = st.one_of(
    st.floats(-1e4, 1e4).map(lambda value: f"{value:.6g}"),
    st.sampled_from(["0", "-0", "1", "0.5", "nan", "inf", "-inf", "1e308", "-1e308", "1e-308"]),
    st.sampled_from(["", "abc", " ", "1_0", "1e", "1\\2"]),
)


@st.composite
def luts(draw):
    bits = draw(st.sampled_from([8, 12, 16, 9, 0, 32]))
    entries = draw(st.sampled_from([256, 4096, 0, 3]))
    first = draw(st.sampled_from([0, 100, -5, 65535]))
    # 65536 US entries exceed what explicit VR can write; a 0 descriptor gets a short table.
    length = draw(st.sampled_from([entries or 2, 2, 1]))
    top = 2 ** min(max(bits, 1), 16) - 1
    data = draw(st.lists(st.integers(0, top), min_size=min(length, 8), max_size=min(length, 8)))
    return voi_lut(entries, first, bits, (data * (length // max(len(data), 1) + 1))[:length])


@st.composite
def radiograph_headers(draw):
    """A valid radiograph's values, then up to three of them made hostile."""
    fields = {
        "RescaleSlope": draw(st.sampled_from(["1", "0.5", "2"])),
        "RescaleIntercept": draw(st.sampled_from(["0", "-1024", "100"])),
        "WindowCenter": draw(st.sampled_from(["2048", "1000", "-500"])),
        "WindowWidth": draw(st.sampled_from(["4096", "400", "1", "0.5"])),
        "PixelSpacing": draw(st.sampled_from(["0.1\\0.1", "0.139\\0.14"])),
        "VOILUTFunction": draw(st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"])),
    }
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(fields)))
        if name == "VOILUTFunction":
            fields[name] = draw(st.sampled_from(["", "GAMMA", "linear"]))
        else:
            fields[name] = draw(NUMBER_TEXT)
    for name in draw(st.sets(st.sampled_from(sorted(fields)), max_size=2)):
        del fields[name]  # absent elements: no window, no rescale, no spacing
    return {
        "photometric": draw(st.sampled_from(["MONOCHROME1", "MONOCHROME2"] * 3 + ["RGB", "X"])),
        "voi": draw(st.one_of(st.none(), st.none(), luts())),
        **fields,
    }


@settings(max_examples=150, deadline=None)
@given(header=radiograph_headers())
def test_read_radiograph_gives_unit_grey_levels_or_a_medical_image_error(header):
    data = dx(**header)
    try:
        radiograph = read_radiograph(data, name="file")
    except MedicalImageError as error:
        radiograph, message = None, str(error)
    if radiograph is None:
        assert "\n" not in message
        assert not any(secret in message for secret in SECRETS)
        return
    assert radiograph.pixels.dtype == np.float32
    assert np.isfinite(radiograph.pixels).all()
    assert radiograph.pixels.min() >= 0.0
    assert radiograph.pixels.max() <= 1.0
    spacing = radiograph.spacing_mm
    assert spacing is None or all(value > 0 and math.isfinite(value) for value in spacing)
