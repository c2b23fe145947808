"""Segment one volume (a NIfTI file or a DICOM series folder) into a NIfTI mask."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from medai.inference.budget import WorkLimitError
from medai.io import MedicalImageError, read_volume, write_nifti
from medai.segmentation.project import SegmentationProject, SettingsT

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


def _reserve_partial_file(output: Path) -> Path:
    """Create the output's folder and a temporary file beside it, or say why not."""
    suffix = ".nii.gz" if output.name.endswith(".nii.gz") else ".nii"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=output.parent, suffix=suffix, prefix=".partial-")
    except OSError as exc:
        raise MedicalImageError(output, f"cannot be written ({exc.strerror})") from exc
    os.close(handle)
    return Path(temporary)


def predict_to_file(
    project: SegmentationProject[SettingsT],
    settings: SettingsT,
    source: Path,
    output: Path,
    alias: str | None = None,
) -> Path:
    """Segment ``source`` with the registered model; write the mask with the input's affine.

    The input is read and validated, and the output location checked, before MLflow and
    torch are imported, so a bad file or path fails in a second. The mask goes to a
    temporary file that is renamed at the end, so a failure never leaves a half-written
    output.

    Raises:
        MedicalImageError: The input cannot be used or the output not written;
            ``WorkLimitError`` (naming ``source``) when segmenting it would exceed
            ``settings.limits``, found from its header before any work.
    """
    check_output_path(output)
    volume = read_volume(source, accept=settings.input.acceptance())
    partial = _reserve_partial_file(output)
    try:
        from medai.segmentation.registry import load_registered_model  # noqa: PLC0415 - MLflow
        from medai.segmentation.segmenter import Segmenter  # noqa: PLC0415 - torch and MONAI

        model = load_registered_model(project.binding, settings, alias)
        segmenter = Segmenter(
            model.network, model.preprocessing, model.inference, limits=settings.limits
        )
        try:
            mask = segmenter.segment(volume)
        except WorkLimitError as exc:
            raise exc.for_path(source) from None
        write_nifti(partial, mask.astype(np.uint8), volume.affine, dtype=np.uint8)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return output
