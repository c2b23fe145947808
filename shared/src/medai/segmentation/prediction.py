"""Segment one volume (a NIfTI file or a DICOM series folder) into a NIfTI mask.

A multi-channel model (multi-parametric MRI) takes one 4D NIfTI with its channels on the
last axis, in the model's channel order; anything else is refused in one line naming the
channels the model takes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np

from medai.inference.budget import WorkLimitError
from medai.io import (
    NIFTI_SUFFIXES,
    ChannelVolume,
    MedicalImageError,
    Volume,
    read_channels,
    read_volume,
    write_nifti,
)
from medai.io.channels import ChannelCountError
from medai.io.nifti import open_nifti
from medai.segmentation.project import SegmentationProject, SettingsT

OUTPUT_SUFFIXES = (".nii.gz", ".nii")
_CHANNELS_NDIM: Final = 4


def read_input(source: Path, settings: SettingsT) -> Volume | ChannelVolume:
    """The input as a ``Volume``, or a ``ChannelVolume`` for a NIfTI with channels (4D).

    Decided from the header, before MLflow or torch: a 4D NIfTI whose last axis is longer
    than one holds channels; anything else is read as today (3D NIfTI, DICOM series).

    Raises:
        MedicalImageError: The input cannot be read.
    """
    if source.is_file() and source.name.lower().endswith(NIFTI_SUFFIXES):
        shape = open_nifti(source).shape
        if len(shape) == _CHANNELS_NDIM and shape[-1] > 1:
            return read_channels([source])
    return read_volume(source, accept=settings.input.acceptance())


def fit_to_model(
    image: Volume | ChannelVolume, source: Path, channels: Sequence[str]
) -> Volume | ChannelVolume:
    """The input with the model's channel names, or one line saying what the model takes.

    Args:
        image: What ``read_input`` read.
        source: Its path, for the message.
        channels: The model's channel names (empty: a model from before they were tagged,
            which takes one channel).

    Raises:
        ChannelCountError: The input's channel count is not the model's.
    """
    count = len(image.channels) if isinstance(image, ChannelVolume) else 1
    wanted = max(len(channels), 1)
    if count != wanted:
        held = f"has {count} channels on its 4th axis" if count > 1 else "is one channel"
        takes = (
            f"{wanted} channels ({', '.join(channels)}): give one 4D NIfTI with them on its "
            "last axis, in that order"
            if wanted > 1
            else "one channel: give a 3D NIfTI or a DICOM series folder"
        )
        raise ChannelCountError(source, f"{held}; the model takes {takes}")
    if isinstance(image, ChannelVolume):
        return ChannelVolume(image.array, image.affine, tuple(channels))
    return image


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
            ``settings.limits``, found from its header before any work;
            ``ChannelCountError`` when it has another number of channels than the model.
    """
    check_output_path(output)
    image = read_input(source, settings)
    partial = _reserve_partial_file(output)
    try:
        from medai.segmentation.registry import load_registered_model  # noqa: PLC0415 - MLflow
        from medai.segmentation.segmenter import Segmenter  # noqa: PLC0415 - torch and MONAI

        model = load_registered_model(project.binding, settings, alias)
        volume = fit_to_model(image, source, model.channels)
        segmenter = Segmenter(
            model.network,
            model.preprocessing,
            model.inference,
            limits=settings.limits,
            regions=model.regions,
            normalizer=project.normalizer_for(model.preprocessing),
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
