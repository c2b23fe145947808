"""Write multi-channel cases in the MSD Task01_BrainTumour or the nnU-Net v2 raw layout.

MSD keeps each case's channels in one 4D NIfTI (x, y, z, channel) and names them in
``modality``; nnU-Net v2 writes one 3D file per channel, ``<case>_0000.nii.gz`` ..
``<case>_0003.nii.gz``, names them in ``channel_names`` and declares the nested tumour
regions it trains on (``labels`` with lists, ``regions_class_order``). Both share
``labelsTr/<case>.nii.gz`` with the MSD label values 0-3.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Final, Literal

import nibabel as nib
import numpy as np
import numpy.typing as npt

__all__ = [
    "FILE_ENDING",
    "LAYOUTS",
    "MSD_LABELS",
    "NNUNET_REGIONS",
    "REGIONS_CLASS_ORDER",
    "Layout",
    "layout_fields",
    "write_case",
]

# nibabel's image classes carry no annotations; entering Any at this one boundary keeps
# mypy --strict meaningful everywhere else.
_Nifti1Image: Any = nib.Nifti1Image

Layout = Literal["msd", "nnunet"]
LAYOUTS: Final[tuple[Layout, ...]] = ("msd", "nnunet")

FILE_ENDING: Final = ".nii.gz"
MSD_LABELS: Final = {
    "0": "background",
    "1": "edema",
    "2": "non-enhancing tumor",
    "3": "enhancing tumour",
}
"""Label value -> name, spelt as in MSD Task01_BrainTumour's dataset.json."""
NNUNET_REGIONS: Final = {
    "background": 0,
    "whole_tumor": [1, 2, 3],
    "tumor_core": [2, 3],
    "enhancing_tumor": [3],
}
"""The nested regions in nnU-Net v2's region form: each a set of label values."""
REGIONS_CLASS_ORDER: Final = [1, 2, 3]
"""Which label value each region's voxels get back when regions become one label map."""

NIFTI_SCANNER_CODE: Final = 1


def _save_nifti(
    array: npt.NDArray[np.generic], affine: npt.NDArray[np.float64], path: Path
) -> None:
    """Write a 3D or 4D NIfTI-1 file whose qform and sform both hold ``affine``.

    Setting both codes means every reader (nibabel, ITK, MONAI) agrees on the geometry;
    a fourth axis is channels, so it gets no time unit.
    """
    image = _Nifti1Image(array, affine)
    image.set_qform(affine, code=NIFTI_SCANNER_CODE)
    image.set_sform(affine, code=NIFTI_SCANNER_CODE)
    image.header.set_data_dtype(array.dtype)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)


def write_case(
    folder: Path,
    layout: Layout,
    case_id: str,
    image: npt.NDArray[np.int16],
    label: npt.NDArray[np.uint8],
    affine: npt.NDArray[np.float64],
) -> None:
    """Write one case's channels into ``imagesTr`` and its label map into ``labelsTr``.

    Args:
        folder: The dataset folder; ``imagesTr`` and ``labelsTr`` must exist.
        layout: ``msd`` (one 4D file) or ``nnunet`` (one file per channel).
        case_id: The case's name, without suffix.
        image: Channels last, shape (i, j, k, channels).
        label: Label map, shape (i, j, k).
        affine: The voxel-to-RAS+ matrix both share.
    """
    if layout == "msd":
        _save_nifti(image, affine, folder / "imagesTr" / f"{case_id}{FILE_ENDING}")
    else:
        for channel in range(image.shape[-1]):
            path = folder / "imagesTr" / f"{case_id}_{channel:04d}{FILE_ENDING}"
            _save_nifti(np.ascontiguousarray(image[..., channel]), affine, path)
    _save_nifti(label, affine, folder / "labelsTr" / f"{case_id}{FILE_ENDING}")


def layout_fields(
    layout: Layout, channels: tuple[str, ...], case_ids: list[str]
) -> dict[str, object]:
    """The dataset.json fields that differ between the layouts: channels, labels, cases.

    Args:
        layout: ``msd`` or ``nnunet``.
        channels: Channel names in file order.
        case_ids: The cases written, in order.

    Returns:
        The fields to merge into the common description of the dataset.
    """
    names = {str(index): name for index, name in enumerate(channels)}
    if layout == "msd":
        return {
            "tensorImageSize": "4D",
            "modality": names,
            "labels": dict(MSD_LABELS),
            "training": [
                {
                    "image": f"./imagesTr/{case}{FILE_ENDING}",
                    "label": f"./labelsTr/{case}{FILE_ENDING}",
                }
                for case in case_ids
            ],
            "test": [],
        }
    return {
        "channel_names": names,
        "labels": copy.deepcopy(NNUNET_REGIONS),
        "regions_class_order": list(REGIONS_CLASS_ORDER),
        "file_ending": FILE_ENDING,
    }
