"""Seeded synthetic chest radiographs, written as real PNG and DICOM files with a CheXpert CSV.

The project must train, evaluate and be tested without patient data, and the code that
trains must be the code that reads real data. So this module does not hand arrays to the
trainer: it writes what a hospital export looks like (8-bit grayscale PNG, and DICOM DX files
in MONOCHROME1 and MONOCHROME2 with 12-bit stored values, a window and a pixel spacing) and a
``labels.csv`` in the CheXpert layout, which medai.io.read_radiograph and
medai.data.labels.read_label_csv then read like any other dataset.

Each image is a frontal (PA) chest radiograph in display convention (bright = dense; the
patient's right on the image's left): body outline, two dark lung fields with vascular
markings, mediastinum and heart, spine, ribs and clavicles. Four findings, each present in
about 30 % of images, independently:

* cardiomegaly: heart wider than half the thorax (cardiothoracic ratio 0.54-0.64 against
  0.38-0.48 when absent);
* effusion: fluid fills a lung base, a bright band with a meniscus that blunts the
  costophrenic angle;
* nodule: a small round opacity in a lung;
* pneumothorax: a dark, marking-free crescent at a lung apex and side, bounded by a thin
  bright pleural line.

Patients differ in size, position and tissue contrast, and images in exposure, noise, blur,
pose and inspiration, so a model has to learn the findings, not the pixels of one template.
A patient's cardiomegaly and nodule persist across their images (chronic); effusion and
pneumothorax are drawn per image (acute). About 5 % of labels are written as -1 (uncertain,
as CheXpert's labeller does) so that the uncertainty policy matters.

Image ``k`` of patient ``p`` depends only on ``(seed, p, k)``: it is the same whatever the
number of patients generated alongside it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)
from scipy import ndimage

from medai.data.staging import staged_folder

__all__ = [
    "FINDINGS",
    "GENERATOR_VERSION",
    "LABELS_FILE",
    "STAMP_FILE",
    "SyntheticImage",
    "generate_dataset",
    "patient_folder",
    "render_image",
]

logger = logging.getLogger(__name__)

FloatImage = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

GENERATOR_VERSION: Final = "1.0.0"
"""Bumped whenever the same (seed, patient, image) would draw a different image."""

FINDINGS: Final = ("cardiomegaly", "effusion", "nodule", "pneumothorax")
LABELS_FILE: Final = "labels.csv"
STAMP_FILE: Final = "generator.json"
"""Written last; a dataset with this file and matching parameters is complete and reused."""

# Each finding's prevalence; the share of reports that are uncertain (-1.0); the share of
# negatives written blank ("not mentioned"), as CheXpert does, to exercise the reader.
RATES: Final = {"prevalence": 0.3, "uncertain": 0.05, "blank_negative": 0.3}

MIN_SIZE: Final = 32
DETECTOR_MM: Final = 430.0
"""Edge of a 43 cm chest detector: the pixel spacing is this over the image size."""
STORED_BITS: Final = 12
_STORED_MAX: Final = 2**STORED_BITS - 1
_UINT8_MAX: Final = 255


@dataclass(frozen=True)
class _Greys:
    """Grey levels (1 = bright) of each tissue, before exposure and contrast vary per image."""

    air: float
    soft_tissue: float
    lung: float
    mediastinum: float
    fluid: float
    pneumothorax: float


@dataclass(frozen=True)
class _Bones:
    """Rib count, and reaches as fractions of the half-thorax width from the midline."""

    ribs: int
    spine_reach: float
    clavicle_reach: float


_GREY: Final = _Greys(
    air=0.03, soft_tissue=0.47, lung=0.19, mediastinum=0.64, fluid=0.6, pneumothorax=0.045
)
_BONES: Final = _Bones(ribs=9, spine_reach=0.07, clavicle_reach=0.75)


@dataclass(frozen=True, eq=False)
class SyntheticImage:
    """One rendered radiograph and what it shows.

    Attributes:
        pixels: float32 (size, size) in [0, 1], 1 bright, as read_radiograph returns them.
        findings: True where the finding is drawn, in FINDINGS order.
        reported: The CSV label of each finding: 1.0, 0.0, or -1.0 (uncertain).
    """

    pixels: FloatImage
    findings: tuple[bool, ...]
    reported: tuple[float, ...]


@dataclass(frozen=True)
class _Patient:
    """Traits shared by every image of one patient (normalised image coordinates)."""

    scale: float
    centre: tuple[float, float]
    lung_gap: float
    lung_half_width: float
    lung_half_height: float
    ctr: float
    cardiomegaly: bool
    nodule: bool
    nodule_side: int
    nodule_at: tuple[float, float]
    nodule_radius: float
    soft_tissue: float
    lung: float
    body_width: float


@dataclass(frozen=True)
class _View:
    """What varies between images of one patient."""

    effusion: bool
    effusion_side: int
    fluid_height: float
    pneumothorax: bool
    pneumothorax_side: int
    collapse: float
    shift: tuple[float, float]
    rotation_deg: float
    zoom: float
    inspiration: float
    blur_px: float
    noise: float
    gamma: float
    gain: float
    offset: float
    tilt: float
    uncertain: tuple[bool, ...]


@dataclass(frozen=True)
class _Grid:
    """Normalised coordinates (u across, v down, both 0..1) of every pixel, broadcastable."""

    u: FloatImage
    v: FloatImage
    size: int

    @classmethod
    def of(cls, size: int) -> _Grid:
        axis = ((np.arange(size, dtype=np.float32) + 0.5) / size).astype(np.float32)
        return cls(u=axis.reshape(1, -1), v=axis.reshape(-1, 1), size=size)


@dataclass(frozen=True)
class _Thorax:
    """Masks and geometry of the drawn chest, used to place findings."""

    lungs: tuple[Mask, Mask]  # image left (patient's right), image right
    centres: tuple[tuple[float, float], tuple[float, float]]
    half_width: float
    half_height: float
    width: float  # between the outer lung edges, the denominator of the CTR
    top: float
    base: float


def patient_folder(patient: int) -> str:
    """``patient00012``: the CheXpert folder name that read_label_csv takes the patient from."""
    return f"patient{patient:05d}"


def _draw_patient(seed: int, patient: int) -> _Patient:
    rng = np.random.default_rng([seed, patient])
    scale = float(rng.uniform(0.88, 1.04))
    cardiomegaly = bool(rng.random() < RATES["prevalence"])
    normal_ctr, enlarged_ctr = rng.uniform(0.38, 0.48), rng.uniform(0.54, 0.64)
    nodule = bool(rng.random() < RATES["prevalence"])
    return _Patient(
        scale=scale,
        centre=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.025, 0.03))),
        lung_gap=0.175 * scale * float(rng.uniform(0.95, 1.05)),
        lung_half_width=0.14 * scale * float(rng.uniform(0.93, 1.07)),
        lung_half_height=0.28 * scale * float(rng.uniform(0.93, 1.07)),
        ctr=float(enlarged_ctr if cardiomegaly else normal_ctr),
        cardiomegaly=cardiomegaly,
        nodule=nodule,
        nodule_side=int(rng.choice([-1, 1])),
        # Within the lung: across from medial (-1) to lateral (+1), down from apex (-1).
        nodule_at=(float(rng.uniform(0.1, 0.6)), float(rng.uniform(-0.55, 0.3))),
        nodule_radius=float(rng.uniform(0.027, 0.04)),
        soft_tissue=_GREY.soft_tissue + float(rng.uniform(-0.06, 0.06)),
        lung=_GREY.lung + float(rng.uniform(-0.04, 0.04)),
        body_width=float(rng.uniform(1.18, 1.32)),
    )


def _draw_view(rng: np.random.Generator) -> _View:
    effusion = bool(rng.random() < RATES["prevalence"])
    effusion_side = int(rng.choice([-1, 1]))
    fluid_height = float(rng.uniform(0.2, 0.4))
    pneumothorax = bool(rng.random() < RATES["prevalence"])
    return _View(
        effusion=effusion,
        effusion_side=effusion_side,
        fluid_height=fluid_height,
        pneumothorax=pneumothorax,
        pneumothorax_side=int(rng.choice([-1, 1])),
        collapse=float(rng.uniform(0.72, 0.9)),
        shift=(float(rng.uniform(-0.02, 0.02)), float(rng.uniform(-0.02, 0.02))),
        rotation_deg=float(rng.uniform(-4.0, 4.0)),
        zoom=float(rng.uniform(0.96, 1.04)),
        inspiration=float(rng.uniform(-0.02, 0.02)),
        blur_px=float(rng.uniform(0.5, 0.9)),
        noise=float(rng.uniform(0.008, 0.025)),
        gamma=float(rng.uniform(0.8, 1.25)),
        gain=float(rng.uniform(0.88, 1.08)),
        offset=float(rng.uniform(-0.03, 0.04)),
        tilt=float(rng.uniform(-0.05, 0.05)),
        # Drawn with the rest of the view, before any pixel noise, so they do not depend on size.
        uncertain=tuple(bool(u) for u in rng.random(len(FINDINGS)) < RATES["uncertain"]),
    )


def _ellipse(grid: _Grid, centre: tuple[float, float], half: tuple[float, float]) -> FloatImage:
    """The implicit function of an axis-aligned ellipse: < 1 inside."""
    level: FloatImage = ((grid.u - centre[0]) / half[0]) ** 2 + (
        (grid.v - centre[1]) / half[1]
    ) ** 2
    return level


def _smooth_noise(grid: _Grid, rng: np.random.Generator, sigma: float) -> FloatImage:
    """Unit-variance noise with a correlation length of ``sigma`` (image fraction)."""
    field = rng.standard_normal((grid.size, grid.size), dtype=np.float32)
    smooth: FloatImage = ndimage.gaussian_filter(field, sigma * grid.size)
    return smooth / np.float32(max(float(smooth.std()), 1e-6))


def _thorax(grid: _Grid, patient: _Patient, view: _View) -> _Thorax:
    cx, cy = 0.5 + patient.centre[0], 0.47 + patient.centre[1]
    a, b = patient.lung_half_width, patient.lung_half_height
    lungs: list[Mask] = []
    centres: list[tuple[float, float]] = []
    base = cy + b * 0.92 + view.inspiration
    for side in (-1, 1):
        lx = cx + side * patient.lung_gap
        local_u = (grid.u - lx) / a
        local_v = (grid.v - cy) / b
        # Rounded apex, broad base: the lower half is a squarer superellipse.
        upper = local_u**2 + local_v**2 < 1.0
        lower = np.abs(local_u) ** 3 + np.abs(local_v) ** 2.5 < 1.0
        outline = np.where(local_v < 0, upper, lower)
        # Diaphragm dome, highest near the lung's middle, lowest at the costophrenic angle.
        dome = base - 0.2 * b * np.clip(1.0 - (local_u + side * 0.15) ** 2, 0.0, 1.0)
        # The heart-side (medial) edge is straighter than the lateral one.
        medial = side * (grid.u - lx) > -a * 0.82
        lungs.append(outline & (grid.v < dome) & medial)
        centres.append((lx, cy))
    return _Thorax(
        lungs=(lungs[0], lungs[1]),
        centres=(centres[0], centres[1]),
        half_width=a,
        half_height=b,
        width=2 * (patient.lung_gap + a),
        top=cy - b,
        base=base,
    )


def _paint_body(grid: _Grid, patient: _Patient, thorax: _Thorax) -> FloatImage:
    """Neck, sloping shoulders and a chest wall a little wider than the lungs."""
    cx = 0.5 + patient.centre[0]
    image = np.full((grid.size, grid.size), _GREY.air, dtype=np.float32)
    half_width = thorax.width / 2 * patient.body_width
    shoulder_top = thorax.top - 0.13
    slope = np.clip((thorax.top + 0.02 - grid.v) / 0.15, 0.0, 1.0) ** 1.5
    narrowing = 0.08 * np.clip((grid.v - thorax.base) / 0.3, 0.0, 1.0)
    body = np.abs(grid.u - cx) < half_width * (1.0 - 0.5 * slope - narrowing)
    body &= grid.v > shoulder_top
    neck = (np.abs(grid.u - cx) < 0.085 * patient.scale) & (grid.v <= shoulder_top + 0.02)
    image[body | neck] = patient.soft_tissue
    # Below the diaphragm the X-rays cross the whole abdomen: brighter than the chest wall.
    abdomen = body & (grid.v > thorax.base - 0.02)
    image[abdomen] = patient.soft_tissue + 0.08
    return image


def _paint_lungs(
    image: FloatImage,
    grid: _Grid,
    patient: _Patient,
    thorax: _Thorax,
    rng: np.random.Generator,
) -> FloatImage:
    """Dark lung fields with vascular markings that fade from the hila outwards."""
    markings = _smooth_noise(grid, rng, 0.01) * np.float32(0.04)
    hila = [
        (lx - np.sign(lx - 0.5 - patient.centre[0]) * thorax.half_width * 0.55, ly)
        for lx, ly in thorax.centres
    ]
    distance = np.minimum(*(np.sqrt((grid.u - hu) ** 2 + (grid.v - hv) ** 2) for hu, hv in hila))
    vessels = np.float32(0.11) * np.exp(-distance / np.float32(0.09))
    texture = patient.lung + vessels + markings * (0.5 + vessels * 6)
    lungs = thorax.lungs[0] | thorax.lungs[1]
    return np.where(lungs, texture, image).astype(np.float32)


def _lung_of(thorax: _Thorax, side: int) -> tuple[Mask, tuple[float, float]]:
    index = 0 if side < 0 else 1
    return thorax.lungs[index], thorax.centres[index]


def _paint_effusion(image: FloatImage, grid: _Grid, thorax: _Thorax, view: _View) -> FloatImage:
    """Fluid in the base: a meniscus rising towards the chest wall, blunting the angle."""
    lung, (lx, _) = _lung_of(thorax, view.effusion_side)
    lateral = np.clip(view.effusion_side * (grid.u - lx) / thorax.half_width, -1.0, 1.0)
    height = view.fluid_height * 2 * thorax.half_height
    level = thorax.base - height + 0.35 * height * (1 - np.clip(lateral + 0.2, 0.0, 1.2) ** 2)
    # The fluid also fills the angle beneath the lung outline, down to the diaphragm.
    below = (grid.v > level) & (np.abs(grid.u - lx) < thorax.half_width * 1.02)
    fluid = below & (lung | (grid.v < thorax.base + 0.01) & (lateral > 0))
    edge = ndimage.gaussian_filter(fluid.astype(np.float32), 0.004 * grid.size)
    out: FloatImage = image * (1 - edge) + np.float32(_GREY.fluid) * edge
    return out


def _paint_nodule(image: FloatImage, grid: _Grid, patient: _Patient, thorax: _Thorax) -> FloatImage:
    lung, (lx, ly) = _lung_of(thorax, patient.nodule_side)
    across, down = patient.nodule_at
    centre = (
        lx + patient.nodule_side * across * thorax.half_width * 0.8,
        ly + down * thorax.half_height,
    )
    radius = patient.nodule_radius * patient.scale
    distance = np.sqrt((grid.u - centre[0]) ** 2 + (grid.v - centre[1]) ** 2) / radius
    blob = np.clip(1.25 - distance, 0.0, 1.0) ** 0.7  # solid core, soft rim
    nodule = np.float32(0.3) * blob * ndimage.binary_dilation(lung, iterations=2)
    out: FloatImage = image + nodule.astype(np.float32)
    return out


def _paint_pneumothorax(image: FloatImage, grid: _Grid, thorax: _Thorax, view: _View) -> FloatImage:
    """Air between chest wall and collapsed lung: dark, no markings, a bright pleural line."""
    side = view.pneumothorax_side
    lung, (lx, ly) = _lung_of(thorax, side)
    # The lung collapses towards its hilum (medial, mid-height), leaving air apically/laterally.
    anchor = (lx - side * thorax.half_width * 0.55, ly + thorax.half_height * 0.35)
    half = (thorax.half_width * view.collapse, thorax.half_height * view.collapse)
    shifted = (anchor[0] + side * half[0] * 0.55, anchor[1] - half[1] * 0.35)
    radius = np.sqrt(_ellipse(grid, shifted, half))
    collapsed = radius < 1.0
    upper = grid.v < ly + thorax.half_height * 0.45
    air = lung & ~collapsed & upper
    line = lung & upper & (np.abs(radius - 1.0) < 0.9 / (grid.size * min(half)) + 0.012)
    out = np.where(air, np.float32(_GREY.pneumothorax), image)
    out = np.where(line & ~air, out + np.float32(0.16), out)
    return out.astype(np.float32)


def _paint_mediastinum(
    image: FloatImage, grid: _Grid, patient: _Patient, thorax: _Thorax
) -> FloatImage:
    """Heart, great vessels, trachea and spine, all on top of the lungs' medial edges."""
    cx = 0.5 + patient.centre[0]
    heart_half = patient.ctr * thorax.width / 2
    # Two thirds of the heart lies left of the midline (on the image's right).
    heart_centre = (cx + heart_half * 0.28, thorax.base - heart_half * 0.55)
    heart = _ellipse(grid, heart_centre, (heart_half, heart_half * 0.78)) < 1.0
    heart &= grid.v < thorax.base + 0.02
    vessels = (np.abs(grid.u - cx - 0.008) < 0.055 * patient.scale) & (grid.v > thorax.top - 0.02)
    vessels &= grid.v < heart_centre[1]
    out = np.where(heart | vessels, np.float32(_GREY.mediastinum), image)
    trachea = (np.abs(grid.u - cx) < 0.013 * patient.scale) & (grid.v < thorax.top + 0.12)
    out = np.where(trachea & (out > _GREY.air), out - np.float32(0.16), out)
    spine = np.abs(grid.u - cx) < 0.034 * patient.scale
    # Vertebral bodies: a faint banding along the column.
    bands = 0.5 + 0.5 * np.cos(2 * np.pi * (grid.v - thorax.top) / (0.045 * patient.scale))
    out = out + np.where(
        spine & (out > _GREY.air), np.float32(0.05) + np.float32(0.04) * bands, 0.0
    )
    return out.astype(np.float32)


def _paint_bones(image: FloatImage, grid: _Grid, patient: _Patient, thorax: _Thorax) -> FloatImage:
    """Posterior rib arcs over both hemithoraces and the clavicles: bright distractors."""
    cx = 0.5 + patient.centre[0]
    across = np.abs(grid.u - cx) / (thorax.width / 2 * 1.08)
    spacing = (thorax.base - thorax.top) / 8.0
    # Every rib is the same arc shifted down by one spacing: measure the distance to the nearest.
    phase = (grid.v - thorax.top - 0.01 + 0.03 * across - 0.16 * across**2) / spacing
    nearest = np.clip(np.rint(phase), 0, _BONES.ribs - 1)
    ribs = np.abs(phase - nearest) * spacing < 0.011 * patient.scale
    # Over the mediastinum and abdomen the ribs drown in soft tissue; show them over the lungs.
    near_lungs: Mask = ndimage.binary_dilation(thorax.lungs[0] | thorax.lungs[1], iterations=2)
    ribs &= near_lungs & (across > _BONES.spine_reach)
    clavicle_path = thorax.top + 0.03 - 0.06 * across
    clavicles = np.abs(grid.v - clavicle_path) < 0.013 * patient.scale
    clavicles &= (across > _BONES.spine_reach) & (across < _BONES.clavicle_reach)
    out: FloatImage = (image + np.float32(0.055) * ribs + np.float32(0.13) * clavicles).astype(
        np.float32
    )
    return out


def _expose(image: FloatImage, grid: _Grid, view: _View, rng: np.random.Generator) -> FloatImage:
    """Pose, blur, contrast and noise: what differs between two exposures of one patient."""
    angle = np.deg2rad(view.rotation_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation / view.zoom
    centre = np.array([grid.size / 2, grid.size / 2])
    offset = centre - matrix @ centre - np.array(view.shift[::-1]) * grid.size
    posed: FloatImage = ndimage.affine_transform(
        image, matrix, offset=offset, order=1, mode="nearest"
    )
    blurred: FloatImage = ndimage.gaussian_filter(posed, view.blur_px * grid.size / 128.0)
    heel = np.float32(view.tilt) * (grid.u - np.float32(0.5))
    shaped = np.clip(blurred + heel, 0.0, 1.0) ** np.float32(view.gamma)
    contrasted = shaped * np.float32(view.gain) + np.float32(view.offset)
    noisy = contrasted + rng.standard_normal(contrasted.shape, dtype=np.float32) * np.float32(
        view.noise
    )
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def _reported(findings: tuple[bool, ...], uncertain: tuple[bool, ...]) -> tuple[float, ...]:
    return tuple(
        -1.0 if hedged else float(present)
        for present, hedged in zip(findings, uncertain, strict=True)
    )


def render_image(patient: int, image: int, *, seed: int, size: int = 128) -> SyntheticImage:
    """Draw image ``image`` of patient ``patient`` from ``(seed, patient, image)`` alone.

    Args:
        patient: Patient number (>= 0).
        image: The patient's image number (>= 0).
        seed: Dataset seed.
        size: Edge in pixels (>= 32).

    Returns:
        The pixels (1 = bright), the findings drawn and the labels to report.

    Raises:
        ValueError: If an index is negative or size is below 32.
    """
    if patient < 0 or image < 0:
        raise ValueError(f"patient and image must be >= 0, got {patient} and {image}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be >= {MIN_SIZE}, got {size}")
    traits = _draw_patient(seed, patient)
    rng = np.random.default_rng([seed, patient, image])
    view = _draw_view(rng)
    grid = _Grid.of(size)
    thorax = _thorax(grid, traits, view)
    pixels = _paint_lungs(_paint_body(grid, traits, thorax), grid, traits, thorax, rng)
    if view.pneumothorax:
        pixels = _paint_pneumothorax(pixels, grid, thorax, view)
    if view.effusion:
        pixels = _paint_effusion(pixels, grid, thorax, view)
    if traits.nodule:
        pixels = _paint_nodule(pixels, grid, traits, thorax)
    pixels = _paint_mediastinum(pixels, grid, traits, thorax)
    pixels = _paint_bones(pixels, grid, traits, thorax)
    pixels = _expose(pixels, grid, view, rng)
    findings = (traits.cardiomegaly, view.effusion, traits.nodule, view.pneumothorax)
    return SyntheticImage(
        pixels=pixels,
        findings=findings,
        reported=_reported(findings, view.uncertain),
    )


@dataclass(frozen=True)
class _Parameters:
    """Everything the files depend on; the stamp file holds exactly this."""

    generator_version: str
    n_patients: int
    images_per_patient: tuple[int, int]
    size: int
    seed: int
    dicom_fraction: float

    def to_json(self) -> str:
        data = asdict(self)
        data["images_per_patient"] = list(self.images_per_patient)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def generate_dataset(
    root: Path,
    *,
    n_patients: int,
    images_per_patient: tuple[int, int] = (1, 3),
    size: int = 128,
    seed: int = 0,
    dicom_fraction: float = 0.3,
) -> Path:
    """Write (or reuse) a synthetic chest X-ray dataset in the CheXpert layout.

    Layout: ``root/images/patient00012/study1_view1.png`` (or ``.dcm``), ``root/labels.csv``
    with a ``Path`` column relative to ``root`` and one column per finding, and
    ``root/generator.json`` with the parameters. Read it with
    ``read_label_csv(root / "labels.csv", image_root=root, label_names=FINDINGS,
    layout="chexpert")``.

    If ``root`` already holds a complete dataset made with the same parameters (and generator
    version) it is returned as is. A dataset made with other parameters is replaced; a folder
    that is not a generated dataset is never touched. The new dataset is built in a hidden
    sibling folder and renamed into place when complete.

    Args:
        root: Dataset folder.
        n_patients: Number of patients (>= 1).
        images_per_patient: Inclusive range of images per patient, drawn per patient.
        size: Image edge in pixels (>= 32).
        seed: Dataset seed; image k of patient p depends only on (seed, p, k).
        dicom_fraction: Fraction of images written as DICOM DX instead of PNG, in [0, 1].

    Returns:
        ``root``.

    Raises:
        ValueError: If a parameter is out of range.
        FileExistsError: If ``root`` exists, is not empty and is not a generated dataset.
    """
    low, high = images_per_patient
    parameters = _Parameters(GENERATOR_VERSION, n_patients, (low, high), size, seed, dicom_fraction)
    _check(parameters)
    root = Path(root)
    stamp = root / STAMP_FILE
    if (root / LABELS_FILE).is_file() and stamp.is_file():
        if stamp.read_text(encoding="utf-8") == parameters.to_json():
            logger.info("reusing the synthetic chest X-ray dataset in %s", root)
            return root
    elif root.exists() and not (root.is_dir() and not any(root.iterdir())):
        raise FileExistsError(f"{root} exists, is not empty and is not a generated dataset")
    with staged_folder(root, replace=True) as staging:
        count = _write_dataset(staging, parameters)
    logger.info("wrote %d synthetic chest X-rays (seed %d) to %s", count, seed, root)
    return root


def _check(parameters: _Parameters) -> None:
    low, high = parameters.images_per_patient
    if parameters.n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {parameters.n_patients}")
    if not 1 <= low <= high:
        raise ValueError(
            f"images_per_patient must be (low, high) with 1 <= low <= high, got {(low, high)}"
        )
    if parameters.size < MIN_SIZE:
        raise ValueError(f"size must be >= {MIN_SIZE}, got {parameters.size}")
    if not 0.0 <= parameters.dicom_fraction <= 1.0:
        raise ValueError(f"dicom_fraction must be in [0, 1], got {parameters.dicom_fraction}")


def _write_dataset(folder: Path, parameters: _Parameters) -> int:
    rows: list[list[str]] = []
    low, high = parameters.images_per_patient
    for patient in range(parameters.n_patients):
        n_images = int(
            np.random.default_rng([parameters.seed, patient, 2**31]).integers(low, high + 1)
        )
        patient_dir = folder / "images" / patient_folder(patient)
        patient_dir.mkdir(parents=True)
        rows.extend(_write_image(patient_dir, patient, i, parameters) for i in range(n_images))
    with (folder / LABELS_FILE).open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["Path", *FINDINGS])
        writer.writerows(rows)
    (folder / STAMP_FILE).write_text(parameters.to_json(), encoding="utf-8")
    return len(rows)


def _write_image(patient_dir: Path, patient: int, image: int, parameters: _Parameters) -> list[str]:
    drawn = render_image(patient, image, seed=parameters.seed, size=parameters.size)
    # A separate stream for the file format, so formats never change the pixels.
    rng = np.random.default_rng([parameters.seed, patient, image, 1])
    as_dicom = bool(rng.random() < parameters.dicom_fraction)
    stem = f"study{image + 1}_view1"
    if as_dicom:
        path = patient_dir / f"{stem}.dcm"
        path.write_bytes(_dicom_bytes(drawn.pixels, patient, image, parameters, rng))
    else:
        path = patient_dir / f"{stem}.png"
        path.write_bytes(_png_bytes(drawn.pixels))
    blank = rng.random(len(FINDINGS)) < RATES["blank_negative"]
    cells = [
        _csv_value(value, leave_blank=leave_blank)
        for value, leave_blank in zip(drawn.reported, blank, strict=True)
    ]
    return [path.relative_to(patient_dir.parent.parent).as_posix(), *cells]


def _csv_value(value: float, *, leave_blank: bool) -> str:
    if value == 0.0 and leave_blank:
        return ""
    return f"{value:.1f}"


def _png_bytes(pixels: FloatImage) -> bytes:
    grey = np.rint(pixels * _UINT8_MAX).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG")
    return buffer.getvalue()


def _dicom_bytes(
    pixels: FloatImage,
    patient: int,
    image: int,
    parameters: _Parameters,
    rng: np.random.Generator,
) -> bytes:
    """A DX 'for presentation' file whose window maps its stored values back to ``pixels``.

    The stored values use only part of the 12-bit range, at an offset drawn per image, so
    a reader that ignored the window (min-max scaling) would see other grey levels.
    """
    monochrome1 = bool(rng.random() < 0.5)  # noqa: PLR2004 - half of the files each
    low = float(rng.uniform(200.0, 900.0))
    span = float(rng.uniform(2200.0, _STORED_MAX - low))
    shown = 1.0 - pixels if monochrome1 else pixels
    stored = np.rint(low + shown * span).astype(np.uint16)
    uid_source = [str(parameters.seed), str(patient), str(image)]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[*uid_source, "instance"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = generate_uid(entropy_srcs=[*uid_source, "study"])
    dataset.SeriesInstanceUID = generate_uid(entropy_srcs=[*uid_source, "series"])
    dataset.Modality = "DX"
    dataset.PresentationIntentType = "FOR PRESENTATION"
    dataset.PatientID = f"SYN{patient:05d}"
    dataset.PatientName = f"Synthetic^{patient:05d}"
    dataset.BodyPartExamined = "CHEST"
    dataset.ViewPosition = "PA"
    dataset.Rows, dataset.Columns = stored.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    dataset.PresentationLUTShape = "INVERSE" if monochrome1 else "IDENTITY"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, STORED_BITS, STORED_BITS - 1
    dataset.PixelRepresentation = 0
    spacing = round(DETECTOR_MM / parameters.size, 4)
    dataset.ImagerPixelSpacing = [spacing, spacing]
    dataset.PixelSpacing = [spacing, spacing]
    # LINEAR windowing maps [c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2] onto the output range.
    dataset.WindowCenter = round(low + span / 2 + 0.5, 2)
    dataset.WindowWidth = round(span + 1, 2)
    dataset.PixelData = stored.tobytes()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
