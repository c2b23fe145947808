"""The hostile-input catalogue through every reader entry point: a clean refusal, never a crash.

``medai.hostile`` lists the classes of bad input; here each member goes through the upload
layer (what a server calls), ``read_volume`` (``invoke predict``), ``read_nifti`` (dataset
loading for training and evaluation) and ``read_radiograph`` (both), and must come out as
the library's own error naming what is wrong, never as another exception or a volume that
carries NaN.
"""

import numpy as np
import pytest

from medai import hostile
from medai.io import DicomAcceptance, MedicalImageError, read_nifti, read_radiograph, read_volume
from medai.io.radiograph import RadiographLimits
from medai.serving.uploads import UploadError, UploadLimits, UploadPart, read_volume_upload

LIMITS = UploadLimits(max_bytes=64 << 20, max_voxels=1 << 26)
CT = DicomAcceptance(modalities=("CT",))
CHEST = RadiographLimits(allowed_body_parts=("CHEST",))

VOLUMES = [*hostile.degenerate_niftis(), *hostile.degenerate_dicom_series()]
UNACCEPTED = hostile.unaccepted_dicom_series()
RADIOGRAPHS = [*hostile.degenerate_radiographs(), *hostile.unaccepted_radiographs()]


def _ids(cases):
    return [case.name for case in cases]


def _assert_safe(message: str, case) -> None:
    assert "\n" not in message
    assert not any(secret in message for secret in hostile.PLANTED_PHI)
    if case.attribute is not None:
        assert case.attribute in message, message


@pytest.mark.parametrize("case", VOLUMES + UNACCEPTED, ids=_ids(VOLUMES + UNACCEPTED))
def test_the_upload_layer_refuses_with_a_4xx_naming_the_attribute(case):
    parts = [UploadPart(filename="Doe^Hostile.dcm", data=data) for data in case.files]
    with pytest.raises(UploadError) as excinfo:
        read_volume_upload(parts, LIMITS, CT)
    assert 400 <= excinfo.value.status < 500
    _assert_safe(excinfo.value.message, case)


@pytest.mark.parametrize("case", VOLUMES + UNACCEPTED, ids=_ids(VOLUMES + UNACCEPTED))
def test_read_volume_as_invoke_predict_calls_it_refuses_in_one_line(case, tmp_path):
    path = case.write(tmp_path)
    with pytest.raises(MedicalImageError) as excinfo:
        read_volume(path, accept=CT)
    _assert_safe(excinfo.value.reason, case)


@pytest.mark.parametrize("case", hostile.degenerate_niftis(), ids=_ids(hostile.degenerate_niftis()))
def test_read_nifti_as_dataset_loading_calls_it_refuses(case, tmp_path):
    with pytest.raises(MedicalImageError):
        read_nifti(case.write(tmp_path))


@pytest.mark.parametrize("case", RADIOGRAPHS, ids=_ids(RADIOGRAPHS))
def test_read_radiograph_refuses_with_its_own_error(case):
    with pytest.raises(MedicalImageError) as excinfo:
        read_radiograph(case.files[0], name="file", limits=CHEST)
    _assert_safe(excinfo.value.reason, case)


@pytest.mark.parametrize("case", hostile.huge_grid_niftis(), ids=_ids(hostile.huge_grid_niftis()))
def test_huge_grid_inputs_are_small_and_finite_as_read(case):
    """They are valid files: what they would resample to is the segmenter's check."""
    volume = read_volume_upload([UploadPart(None, case.files[0])], LIMITS, CT)
    assert volume.shape == (8, 8, 8)
    assert np.isfinite(volume.array).all()


def test_every_dicom_member_plants_phi_so_leaks_would_show():
    import pydicom  # noqa: PLC0415 - only this check reads the files back

    for case in VOLUMES + RADIOGRAPHS:
        for data in case.files:
            if data[128:132] == b"DICM":
                dataset = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
                assert str(dataset.PatientName) == hostile.PLANTED_PHI[0]
