"""Seeded synthetic abdominal-CT phantoms in the Medical Segmentation Decathlon layout.

The project must train, evaluate and be tested without downloading patient data, so this
module draws a small CT-like dataset shaped like MSD Task03_Liver: label 0 is background,
1 the organ (a liver-like blob) and 2 lesions inside it. Distractors (body wall, fat, spine,
kidneys) are painted but left unlabelled so that a model has to learn shape and intensity,
not merely "anything brighter than air".

Every case is drawn from ``numpy.random.default_rng([seed, index])`` alone, so a case is
reproducible and identical whatever the number of cases generated alongside it.

Voxel axes are (i, j, k) and the affine is RAS+: i points to the patient's left, j to the
anterior and k to the superior. The liver therefore sits at low i (patient's right) and the
spine at low j (posterior).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from medai.data.phantoms import (
    BoolArray,
    FloatArray,
    Grid,
    bounding_box,
    check_geometry,
    ellipsoid_level,
    largest_component,
    phantom_affine,
    rotation,
    smooth_field,
)
from medai.data.staging import write_decathlon_folder

__all__ = [
    "GENERATOR_VERSION",
    "LABELS",
    "PhantomCase",
    "PhantomSpec",
    "generate_phantom_case",
    "generate_phantom_dataset",
    "phantom_affine",
]

logger = logging.getLogger(__name__)

# nibabel's image classes carry no annotations; entering Any at this one boundary keeps
# mypy --strict meaningful everywhere else in the module.
_Nifti1Image: Any = nib.Nifti1Image

GENERATOR_VERSION: Final = "1.0.0"
"""Bumped whenever the same (seed, index) would draw a different case."""

LABELS: Final = {"0": "background", "1": "organ", "2": "lesion"}
ORGAN_LABEL: Final = 1
LESION_LABEL: Final = 2

HU_MIN: Final = -1024
HU_MAX: Final = 3071
AIR_HU: Final = -1000.0
PARTIAL_VOLUME_SIGMA: Final = 0.7
"""Gaussian sigma (voxels) that blurs tissue boundaries like a CT point-spread function."""

MIN_CASE_EDGE: Final = 32
"""Smallest edge (voxels) at which every structure still fits (lesions may shrink there)."""

LESION_RADIUS_RANGE: Final = (3.0, 7.0)
MIN_LESION_RADIUS: Final = 2.0
"""Floor (voxels) to which a lesion may shrink to fit the thin organs of small volumes."""
LESION_MARGIN: Final = 1.5
"""Voxels of organ kept between a lesion and the organ surface (and other lesions)."""

NIFTI_SCANNER_CODE: Final = 1
_MAX_CYCLES_PER_FOV: Final = 1.5
"""Keeps the organ's deformation organ-like (bulges and lobes) rather than jagged."""


@dataclass(frozen=True)
class PhantomSpec:
    """Geometry and noise of the generated phantoms.

    Attributes:
        shape: Nominal volume shape in voxels (i, j, k).
        spacing: Voxel size in millimetres, written into the affine.
        shape_jitter: Each case's shape differs from ``shape`` by up to this many voxels
            per axis, so loaders and sliding-window inference see varying sizes.
        noise_hu: Standard deviation (HU) of the Gaussian noise added after the
            partial-volume blur, i.e. the noise measured in a homogeneous region.
        max_lesions: Each case holds between 1 and this many lesions.
    """

    shape: tuple[int, int, int] = (64, 64, 64)
    spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)
    shape_jitter: int = 8
    noise_hu: float = 12.0
    max_lesions: int = 3

    def __post_init__(self) -> None:
        """Reject specs the anatomy cannot fit, before any file is written.

        Raises:
            ValueError: If a field is out of range.
        """
        check_geometry(self.shape, self.spacing)
        if self.shape_jitter < 0:
            raise ValueError(f"shape_jitter must be >= 0, got {self.shape_jitter}")
        if min(self.shape) - self.shape_jitter < MIN_CASE_EDGE:
            raise ValueError(
                f"shape minus shape_jitter must be >= {MIN_CASE_EDGE} voxels per axis so the "
                f"anatomy fits, got shape={self.shape}, shape_jitter={self.shape_jitter}"
            )
        if self.noise_hu < 0:
            raise ValueError(f"noise_hu must be >= 0, got {self.noise_hu}")
        if self.max_lesions < 1:
            raise ValueError(f"max_lesions must be >= 1, got {self.max_lesions}")


@dataclass(frozen=True, eq=False)
class PhantomCase:
    """One generated case, as written to disk.

    Attributes:
        image: HU intensities, int16, shape (i, j, k).
        label: 0 background, 1 organ, 2 lesion; uint8, same shape as ``image``.
        affine: 4x4 RAS+ voxel-to-world matrix in millimetres shared by image and label.
    """

    image: npt.NDArray[np.int16]
    label: npt.NDArray[np.uint8]
    affine: npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Body:
    """Masks of the body outline and of its soft-tissue interior (inside the fat rim)."""

    outline: BoolArray
    interior: BoolArray
    centre: tuple[float, float]
    semi_axes: tuple[float, float]
    fat_thickness: float


def _body(grid: Grid, rng: np.random.Generator) -> _Body:
    """Draw the trunk: an elliptic cylinder along k filling most of the field of view.

    Its outer shell is subcutaneous fat, so air, fat and soft tissue all appear in every
    case, as in a real abdominal scan.
    """
    ni, nj, _ = grid.shape
    centre = ((ni - 1) / 2 + rng.uniform(-1.0, 1.0), (nj - 1) / 2 + rng.uniform(-1.0, 1.0))
    semi_axes = (rng.uniform(0.41, 0.46) * ni, rng.uniform(0.34, 0.39) * nj)
    fat = float(rng.uniform(2.0, 3.5))
    ci, cj = centre
    ai, aj = semi_axes
    outer = ((grid.i - ci) / ai) ** 2 + ((grid.j - cj) / aj) ** 2
    inner = ((grid.i - ci) / (ai - fat)) ** 2 + ((grid.j - cj) / (aj - fat)) ** 2
    return _Body(
        outline=np.broadcast_to(outer < 1.0, grid.shape).copy(),
        interior=np.broadcast_to(inner < 1.0, grid.shape).copy(),
        centre=(float(ci), float(cj)),
        semi_axes=(float(ai), float(aj)),
        fat_thickness=fat,
    )


def _spine(grid: Grid, body: _Body, rng: np.random.Generator) -> BoolArray:
    """Draw a vertebral column: a bone cylinder along k just inside the posterior wall.

    Bone is the brightest distractor; the model must learn it is not the organ.
    """
    ni, nj, _ = grid.shape
    radius = rng.uniform(0.06, 0.08) * min(ni, nj)
    ci = body.centre[0] + rng.uniform(-1.0, 1.0)
    cj = body.centre[1] - body.semi_axes[1] + body.fat_thickness + radius + rng.uniform(1.0, 2.5)
    cylinder = ((grid.i - ci) ** 2 + (grid.j - cj) ** 2) < radius**2
    return np.broadcast_to(cylinder, grid.shape) & body.interior


def _kidneys(grid: Grid, body: _Body, spine: BoolArray, rng: np.random.Generator) -> BoolArray:
    """Draw two contrast-enhanced kidney ellipsoids on either side of the spine.

    They are bright, organ-sized and unlabelled, so intensity alone cannot find the organ.
    """
    ni, nj, nk = grid.shape
    spine_j = float(np.mean(np.nonzero(spine)[1]))
    kidneys = np.zeros(grid.shape, dtype=bool)
    for side in (-1.0, 1.0):
        centre = (
            body.centre[0] + side * rng.uniform(0.17, 0.21) * ni,
            spine_j + rng.uniform(0.5, 2.5),
            rng.uniform(0.38, 0.5) * nk,
        )
        semi_axes = (
            rng.uniform(0.05, 0.065) * ni,
            rng.uniform(0.06, 0.075) * nj,
            rng.uniform(0.12, 0.16) * nk,
        )
        kidneys |= ellipsoid_level(grid, centre, semi_axes, rotation(rng, (8.0, 8.0, 20.0))) < 1
    return kidneys & body.interior & ~spine


def _organ(grid: Grid, body: _Body, distractors: BoolArray, rng: np.random.Generator) -> BoolArray:
    """Draw the liver-like organ: two overlapping ellipsoids, smoothly deformed.

    A main right lobe and a smaller left lobe, rotated and bulged by a low-frequency
    field, give a large smooth blob whose pose and outline differ in every case. It is
    kept inside the soft-tissue interior and off the spine and kidneys.
    """
    ni, nj, nk = grid.shape
    turn = rotation(rng, (10.0, 10.0, 25.0))
    main_centre = np.array(
        [rng.uniform(0.37, 0.42) * ni, rng.uniform(0.52, 0.57) * nj, rng.uniform(0.45, 0.55) * nk]
    )
    main_axes = np.array(
        [rng.uniform(0.20, 0.24) * ni, rng.uniform(0.16, 0.19) * nj, rng.uniform(0.24, 0.29) * nk]
    )
    lobe_offset = turn @ np.array(
        [rng.uniform(0.13, 0.18) * ni, rng.uniform(0.02, 0.06) * nj, rng.uniform(0.0, 0.06) * nk]
    )
    lobe_axes = main_axes * rng.uniform(0.5, 0.65, size=3)
    level = np.minimum(
        ellipsoid_level(grid, main_centre, main_axes, turn),
        ellipsoid_level(grid, main_centre + lobe_offset, lobe_axes, turn),
    )
    level += np.float32(rng.uniform(0.2, 0.35)) * smooth_field(grid, rng, _MAX_CYCLES_PER_FOV)
    wall = ndimage.binary_erosion(body.interior, iterations=1)
    apart = ~ndimage.binary_dilation(distractors, iterations=1)
    organ = (level < 1.0) & wall & apart
    filled: BoolArray = ndimage.binary_fill_holes(largest_component(organ))
    return filled


def _lesions(grid: Grid, organ: BoolArray, n_lesions: int, rng: np.random.Generator) -> BoolArray:
    """Place hypodense ellipsoidal lesions fully inside the organ and apart from each other.

    Centres are drawn where the distance to the organ surface (and to earlier lesions)
    exceeds the lesion's largest semi-axis plus a margin, so each lesion is surrounded by
    organ like a real intraparenchymal lesion and its label never touches background.

    Raises:
        RuntimeError: If not even one lesion of the minimum radius fits the organ.
    """
    box = bounding_box(organ, pad=1)
    local_grid = Grid.over(box)
    local_organ = organ[box]
    local = np.zeros(local_grid.shape, dtype=bool)
    for _ in range(n_lesions):
        semi_axes = rng.uniform(*LESION_RADIUS_RANGE) * rng.uniform(0.85, 1.15, size=3)
        turn = rotation(rng, (90.0, 90.0, 90.0))
        free = local_organ & ~ndimage.binary_dilation(local, iterations=2)
        depth = ndimage.distance_transform_edt(free)
        room = float(depth.max()) - LESION_MARGIN
        if room < MIN_LESION_RADIUS:
            if local.any():
                break
            raise RuntimeError("the organ is too small for a lesion; enlarge PhantomSpec.shape")
        semi_axes *= min(1.0, room / float(semi_axes.max()))
        # Capped at the deepest point so float round-off can never leave zero candidates.
        need = min(float(semi_axes.max()) + LESION_MARGIN, float(depth.max()))
        candidates = np.flatnonzero(depth >= need)
        offset = np.unravel_index(candidates[rng.integers(candidates.size)], local_grid.shape)
        centre = [axis.start + index for axis, index in zip(box, offset, strict=True)]
        local |= (ellipsoid_level(local_grid, centre, semi_axes, turn) <= 1.0) & free
    lesions = np.zeros(grid.shape, dtype=bool)
    lesions[box] = local
    return lesions


@dataclass(frozen=True)
class _Anatomy:
    """Masks of every painted structure of one case."""

    body: _Body
    spine: BoolArray
    kidneys: BoolArray
    organ: BoolArray
    lesions: BoolArray


def _draw_anatomy(grid: Grid, max_lesions: int, rng: np.random.Generator) -> _Anatomy:
    """Draw the structures outside-in, each placed relative to the ones before it."""
    body = _body(grid, rng)
    spine = _spine(grid, body, rng)
    kidneys = _kidneys(grid, body, spine, rng)
    organ = _organ(grid, body, spine | kidneys, rng)
    lesions = _lesions(grid, organ, int(rng.integers(1, max_lesions, endpoint=True)), rng)
    return _Anatomy(body=body, spine=spine, kidneys=kidneys, organ=organ, lesions=lesions)


def _render_hu(
    anatomy: _Anatomy, noise_hu: float, rng: np.random.Generator
) -> npt.NDArray[np.int16]:
    """Paint per-case tissue intensities, blur them, add noise and quantise to int16 HU.

    Tissue values are drawn per case so a model cannot rely on one exact HU. The blur
    mimics partial volume at tissue boundaries and comes *before* the noise, so that
    ``noise_hu`` is the noise actually measured in a homogeneous region, as in CT QA.
    """
    image = np.full(anatomy.organ.shape, AIR_HU, dtype=np.float32)
    image[anatomy.body.outline] = rng.uniform(-110.0, -90.0)  # subcutaneous fat
    image[anatomy.body.interior] = rng.uniform(32.0, 42.0)  # muscle, unlabelled soft tissue
    image[anatomy.kidneys] = rng.uniform(140.0, 165.0)  # cortico-medullary enhancement
    image[anatomy.spine] = rng.uniform(400.0, 700.0)  # cancellous and cortical bone
    image[anatomy.organ] = rng.uniform(60.0, 70.0)  # portal-venous liver parenchyma
    # Each lesion gets its own value (0-20 HU): >= 40 HU below the organ, clear of the noise.
    parts, n_parts = ndimage.label(anatomy.lesions)
    image[anatomy.lesions] = rng.uniform(0.0, 20.0, size=n_parts)[parts[anatomy.lesions] - 1]

    blurred: FloatArray = ndimage.gaussian_filter(image, sigma=PARTIAL_VOLUME_SIGMA)
    blurred += rng.standard_normal(blurred.shape, dtype=np.float32) * np.float32(noise_hu)
    return np.rint(np.clip(blurred, HU_MIN, HU_MAX)).astype(np.int16)


def _labels(anatomy: _Anatomy) -> npt.NDArray[np.uint8]:
    """Rasterise the labels; lesions are written last so they override the organ."""
    label = np.zeros(anatomy.organ.shape, dtype=np.uint8)
    label[anatomy.organ] = ORGAN_LABEL
    label[anatomy.lesions] = LESION_LABEL
    return label


def generate_phantom_case(
    index: int, *, seed: int, spec: PhantomSpec = PhantomSpec()
) -> PhantomCase:
    """Draw one phantom from ``(seed, index)`` alone.

    Seeding with the pair makes case ``index`` identical whatever the number of cases or
    the order in which they are generated.

    Args:
        index: Case index (>= 0); also names the files ``phantom_XXX``.
        seed: Dataset seed.
        spec: Geometry and noise settings.

    Returns:
        The int16 HU image, the uint8 label and their shared affine.

    Raises:
        ValueError: If ``index`` is negative.
    """
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    rng = np.random.default_rng([seed, index])
    offsets = rng.integers(-spec.shape_jitter, spec.shape_jitter, size=3, endpoint=True)
    shape = (
        int(spec.shape[0] + offsets[0]),
        int(spec.shape[1] + offsets[1]),
        int(spec.shape[2] + offsets[2]),
    )
    anatomy = _draw_anatomy(Grid.of(shape), spec.max_lesions, rng)
    return PhantomCase(
        image=_render_hu(anatomy, spec.noise_hu, rng),
        label=_labels(anatomy),
        affine=phantom_affine(shape, spec.spacing),
    )


def _save_nifti(
    array: npt.NDArray[np.generic], affine: npt.NDArray[np.float64], path: Path
) -> None:
    """Write a NIfTI-1 file whose qform and sform both hold ``affine`` as scanner space.

    Setting both codes means every reader (nibabel, ITK, MONAI) agrees on the geometry.
    """
    image = _Nifti1Image(array, affine)
    image.set_qform(affine, code=NIFTI_SCANNER_CODE)
    image.set_sform(affine, code=NIFTI_SCANNER_CODE)
    image.header.set_data_dtype(array.dtype)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)


def _dataset_json(name: str, n_cases: int, seed: int, spec: PhantomSpec) -> dict[str, object]:
    """Describe the dataset in MSD format; contents depend only on the arguments."""
    cases = [f"phantom_{index:03d}.nii.gz" for index in range(n_cases)]
    return {
        "name": name,
        "description": (
            "Synthetic abdominal CT phantoms (no patient data) generated by "
            f"ct_seg.data.synthetic version {GENERATOR_VERSION} with seed {seed}, "
            f"shape {list(spec.shape)} +/- {spec.shape_jitter} voxels, spacing "
            f"{list(spec.spacing)} mm, noise {spec.noise_hu} HU, up to {spec.max_lesions} "
            "lesions per case."
        ),
        "tensorImageSize": "3D",
        "reference": "Synthetic data generated by the ct_seg project; no external source.",
        "licence": "CC0-1.0 (synthetic, contains no personal data)",
        "release": f"{GENERATOR_VERSION} (seed {seed})",
        "modality": {"0": "CT"},
        "labels": dict(LABELS),
        "numTraining": n_cases,
        "numTest": 0,
        "training": [
            {"image": f"./imagesTr/{case}", "label": f"./labelsTr/{case}"} for case in cases
        ],
        "test": [],
    }


def _write_case(folder: Path, index: int, seed: int, spec: PhantomSpec) -> None:
    """Write case ``index`` as ``phantom_XXX.nii.gz`` under ``imagesTr`` and ``labelsTr``."""
    case = generate_phantom_case(index, seed=seed, spec=spec)
    file_name = f"phantom_{index:03d}.nii.gz"
    _save_nifti(case.image, case.affine, folder / "imagesTr" / file_name)
    _save_nifti(case.label, case.affine, folder / "labelsTr" / file_name)


def generate_phantom_dataset(
    root: Path,
    n_cases: int,
    *,
    seed: int,
    spec: PhantomSpec = PhantomSpec(),
    name: str = "SyntheticCTPhantom",
) -> Path:
    """Write phantoms 0 to ``n_cases - 1`` as an MSD Task03-style folder, complete or not at all.

    Args:
        root: Folder to create, absent or empty (``medai.data.staging.write_decathlon_folder``
            stages it, so a crash leaves at most a ``.<root>.partial-*`` folder to delete).
        n_cases: How many training cases (>= 1).
        seed: Dataset seed; case ``i`` depends only on ``(seed, i)``.
        spec: Geometry and noise settings.
        name: The ``name`` field of ``dataset.json``.

    Returns:
        ``root``.

    Raises:
        ValueError: If ``n_cases`` < 1.
        FileExistsError: If ``root`` exists and is not an empty directory.
    """
    write_decathlon_folder(
        root,
        n_cases,
        lambda folder, index: _write_case(folder, index, seed, spec),
        _dataset_json(name, n_cases, seed, spec),
    )
    logger.info("wrote %d synthetic phantom cases (seed %d) to %s", n_cases, seed, root)
    return Path(root)
