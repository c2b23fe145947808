"""Seeded synthetic multi-parametric brain-tumour MRI in the MSD Task01 or nnU-Net v2 layout.

The project must train, evaluate and be tested without patient data, so this module
draws a small dataset shaped like MSD Task01_BrainTumour: four co-registered channels
(T1, T1c, T2, FLAIR) of a head with skull, grey and white matter, CSF and ventricles and
a glioma-like tumour (``anatomy``), painted with contrast-specific signals, a bias field
and Rician noise (``contrasts``). Labels follow MSD: 0 background, 1 oedema,
2 non-enhancing tumour / necrosis, 3 enhancing tumour; training and scoring use the
nested regions in ``REGIONS`` (whole tumour, tumour core, enhancing tumour).

Every case is drawn from ``numpy.random.default_rng([seed, index])`` alone, so a case is
reproducible and identical whatever the number of cases generated alongside it, and
identical in both layouts.

Voxel axes are (i, j, k) and the affine is RAS+: i points to the patient's left, j to
the anterior and k to the superior.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from brain_mri.data.anatomy import MIN_CASE_EDGE, Anatomy, Tissue, draw_anatomy
from brain_mri.data.contrasts import CHANNELS, render_contrasts
from brain_mri.data.layouts import LAYOUTS, MSD_LABELS, Layout, layout_fields, write_case
from medai.data.phantoms import check_geometry, phantom_affine
from medai.data.staging import write_decathlon_folder

__all__ = [
    "CHANNELS",
    "GENERATOR_VERSION",
    "LABELS",
    "LAYOUTS",
    "MAX_CASE_EDGE",
    "MAX_NOISE",
    "MIN_CASE_EDGE",
    "REGIONS",
    "Layout",
    "PhantomCase",
    "PhantomSpec",
    "case_id",
    "generate_phantom_case",
    "generate_phantom_dataset",
    "phantom_affine",
]

logger = logging.getLogger(__name__)

GENERATOR_VERSION: Final = "1.0.0"
"""Bumped whenever the same (seed, index) and spec would draw a different case."""

LABELS: Final = MSD_LABELS
OEDEMA_LABEL: Final = 1
NECROSIS_LABEL: Final = 2
ENHANCING_LABEL: Final = 3
REGIONS: Final = {
    "whole_tumor": (OEDEMA_LABEL, NECROSIS_LABEL, ENHANCING_LABEL),
    "tumor_core": (NECROSIS_LABEL, ENHANCING_LABEL),
    "enhancing_tumor": (ENHANCING_LABEL,),
}
"""The nested regions (BraTS): each the label values it covers, outermost first."""

MAX_CASE_EDGE: Final = 256
"""Largest edge (voxels): a 256^3 four-channel case already takes ~0.5 GB while drawn."""
MAX_NOISE: Final = 0.5


@dataclass(frozen=True)
class PhantomSpec:
    """Geometry and noise of the generated cases.

    Attributes:
        shape: Volume shape in voxels (i, j, k); the anatomy scales with it.
        spacing: Voxel size in millimetres, written into the affine.
        noise: Rician noise level: the standard deviation of each Gaussian component
            as a fraction of the channel's white-matter signal.
    """

    shape: tuple[int, int, int] = (64, 64, 64)
    spacing: tuple[float, float, float] = (2.0, 2.0, 2.0)
    noise: float = 0.04

    def __post_init__(self) -> None:
        """Reject specs the anatomy cannot fit, before any file is written.

        Raises:
            ValueError: If a field is out of range; the message names it.
        """
        check_geometry(self.shape, self.spacing)
        if not all(MIN_CASE_EDGE <= edge <= MAX_CASE_EDGE for edge in self.shape):
            raise ValueError(
                f"shape must be {MIN_CASE_EDGE}..{MAX_CASE_EDGE} voxels per axis so the anatomy "
                f"fits, got {list(self.shape)}"
            )
        if not 0.0 <= self.noise <= MAX_NOISE:
            raise ValueError(f"noise must be in [0, {MAX_NOISE}], got {self.noise}")


@dataclass(frozen=True, eq=False)
class PhantomCase:
    """One generated case, as written to disk.

    Attributes:
        image: Signal, int16, shape (i, j, k, 4), channels in ``CHANNELS`` order.
        label: MSD labels 0-3, uint8, shape (i, j, k).
        affine: 4x4 RAS+ voxel-to-world matrix in millimetres shared by image and label.
        tissue: The tissue map the image was painted from (``anatomy.Tissue`` codes),
            kept so tests can check each tissue's contrast; it is not written.
    """

    image: npt.NDArray[np.int16]
    label: npt.NDArray[np.uint8]
    affine: npt.NDArray[np.float64]
    tissue: npt.NDArray[np.uint8]


def _labels(anatomy: Anatomy) -> npt.NDArray[np.uint8]:
    """Map the tumour tissues to MSD label values; every other tissue is background."""
    label = np.zeros(anatomy.tissue.shape, dtype=np.uint8)
    label[anatomy.tissue == Tissue.OEDEMA] = OEDEMA_LABEL
    label[anatomy.tissue == Tissue.NECROSIS] = NECROSIS_LABEL
    label[anatomy.tissue == Tissue.ENHANCING] = ENHANCING_LABEL
    return label


def case_id(index: int) -> str:
    """The name of case ``index`` in both layouts, e.g. ``brain_007``."""
    return f"brain_{index:03d}"


def generate_phantom_case(
    index: int, *, seed: int, spec: PhantomSpec = PhantomSpec()
) -> PhantomCase:
    """Draw one case from ``(seed, index)`` alone.

    Args:
        index: Case index (>= 0); also names the files (``case_id``).
        seed: Dataset seed.
        spec: Geometry and noise settings.

    Returns:
        The four-channel int16 image, the uint8 label map and their shared affine.

    Raises:
        ValueError: If ``index`` is negative.
    """
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    rng = np.random.default_rng([seed, index])
    anatomy = draw_anatomy(spec.shape, rng)
    return PhantomCase(
        image=render_contrasts(anatomy, spec.noise, rng),
        label=_labels(anatomy),
        affine=phantom_affine(spec.shape, spec.spacing),
        tissue=anatomy.tissue,
    )


def _dataset_json(
    name: str, layout: Layout, n_cases: int, seed: int, spec: PhantomSpec
) -> dict[str, object]:
    """Describe the dataset in the layout's format; contents depend only on the arguments."""
    return {
        "name": name,
        "description": (
            "Synthetic multi-parametric brain-tumour MRI (no patient data) generated by "
            f"brain_mri.data.synthetic version {GENERATOR_VERSION} with seed {seed}, shape "
            f"{list(spec.shape)}, spacing {list(spec.spacing)} mm, Rician noise {spec.noise}."
        ),
        "reference": "Synthetic data generated by the brain_mri project; no external source.",
        "licence": "CC0-1.0 (synthetic, contains no personal data)",
        "release": f"{GENERATOR_VERSION} (seed {seed})",
        "numTraining": n_cases,
        "numTest": 0,
        **layout_fields(layout, CHANNELS, [case_id(index) for index in range(n_cases)]),
    }


def generate_phantom_dataset(
    root: Path,
    n_cases: int,
    *,
    seed: int,
    spec: PhantomSpec = PhantomSpec(),
    layout: Layout = "msd",
    name: str = "SyntheticBrainTumour",
) -> Path:
    """Write a synthetic brain-tumour dataset in either layout; it appears only when whole.

    Both layouts are written through ``medai.data.staging.write_decathlon_folder``: the
    folder is staged beside ``root``, and a crash leaves at most a ``.<root>.partial-*``
    folder, which is safe to delete.

    Args:
        root: Dataset folder to create; it must not exist or be an empty directory.
        n_cases: Number of training cases (>= 1).
        seed: Dataset seed; case ``i`` depends only on ``(seed, i)`` and ``spec``.
        spec: Geometry and noise settings.
        layout: ``msd`` (one 4D NIfTI per case) or ``nnunet`` (one file per channel).
        name: The ``name`` field of ``dataset.json``.

    Returns:
        ``root``.

    Raises:
        ValueError: If ``n_cases`` < 1 or ``layout`` is unknown.
        FileExistsError: If ``root`` exists and is not an empty directory.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")

    def write(folder: Path, index: int) -> None:
        case = generate_phantom_case(index, seed=seed, spec=spec)
        write_case(folder, layout, case_id(index), case.image, case.label, case.affine)

    description = _dataset_json(name, layout, n_cases, seed, spec)
    write_decathlon_folder(root, n_cases, write, description)
    logger.info("wrote %d synthetic brain MRI cases (%s layout, seed %d)", n_cases, layout, seed)
    return Path(root)
