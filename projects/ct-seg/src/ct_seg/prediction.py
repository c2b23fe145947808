"""Segment one CT (a NIfTI file or a DICOM series folder) into a NIfTI mask."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ct_seg.settings import CtSegSettings
from medai.io import MedicalImageError, read_volume, write_nifti

OUTPUT_SUFFIXES = (".nii.gz", ".nii")


def check_output_path(output: Path) -> None:
    """Refuse an output that is not NIfTI before any work is done.

    Raises:
        MedicalImageError: wrong suffix, or the parent folder cannot be created.
    """
    if not output.name.endswith(OUTPUT_SUFFIXES):
        raise MedicalImageError(output, "output must end in .nii.gz or .nii")
    if output.exists() and output.is_dir():
        raise MedicalImageError(output, "output is a directory; give a file name")


def predict_to_file(
    settings: CtSegSettings, source: Path, output: Path, alias: str | None = None
) -> Path:
    """Segment ``source`` with the registered model; write the mask with the input's affine.

    The input is read and validated before MLflow and torch are imported, so a bad
    file fails in a second. The mask is written to a temporary file and renamed, so a
    failure never leaves a half-written output.
    """
    check_output_path(output)
    volume = read_volume(source)

    from ct_seg.inference import Segmenter  # noqa: PLC0415 - heavy: torch and MONAI
    from ct_seg.mlops.model_registry import load_registered_model  # noqa: PLC0415 - heavy: MLflow

    model = load_registered_model(settings, alias)
    mask = Segmenter(model.network, model.preprocessing, model.inference).segment(volume)
    output.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if output.name.endswith(".nii.gz") else ".nii"
    handle, temporary = tempfile.mkstemp(dir=output.parent, suffix=suffix, prefix=".partial-")
    os.close(handle)
    try:
        write_nifti(Path(temporary), mask.astype(np.uint8), volume.affine, dtype=np.uint8)
        Path(temporary).replace(output)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return output
