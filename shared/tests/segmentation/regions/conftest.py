"""A tiny four-channel tumour project: the region-based tests' data, written with nibabel.

Each case is a head (a ball, exactly 0 outside as in skull-stripped MRI) holding a
tumour of three nested parts, labelled as BraTS does: oedema 1 (outer shell), necrosis
2 (centre) and enhancing tumour 3 (a shell around the centre). Its four contrasts see
them differently, so the regions need every channel. The dataset is MSD-style (one 4D
file a case, plain labels); the project's config defines the regions.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medai.project import ProjectBinding
from medai.segmentation.data import GeneratedData, SegmentationData, load_or_generate
from medai.segmentation.project import SegmentationProject
from medai.segmentation.settings import DecathlonDataSettings, SegmentationSettings
from medai.testing import DemoProject, write_demo_repo

TUMOUR = "tumour-seg"
CHANNELS = ("T1", "T1c", "T2", "FLAIR")
REGION_NAMES = ("whole_tumour", "tumour_core", "enhancing_tumour")
EDGE = 24
SPACING = 2.0

# Mean intensity of each tissue (head, oedema, necrosis, enhancing) in each contrast.
_CONTRAST = np.array(
    [
        [400.0, 300.0, 200.0, 350.0],  # T1
        [400.0, 350.0, 150.0, 1200.0],  # T1c: enhancing tumour lights up
        [300.0, 800.0, 1000.0, 700.0],  # T2
        [300.0, 900.0, 400.0, 600.0],  # FLAIR: oedema lights up
    ]
)


def tumour_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y, Z, 4)`` intensities (channels last, as MSD stores them) and the label map."""
    rng = np.random.default_rng(seed)
    grid = np.indices((EDGE, EDGE, EDGE)).astype(float)
    head = np.linalg.norm(grid - (EDGE - 1) / 2, axis=0) < EDGE / 2 - 1
    centre = rng.uniform(10.0, 13.0, size=3)[:, None, None, None]
    distance = np.linalg.norm(grid - centre, axis=0)
    outer = rng.uniform(6.0, 7.5)
    labels = np.zeros(head.shape, dtype=np.uint8)
    labels[distance < outer] = 1
    labels[distance < outer - 2.5] = 3
    labels[distance < outer - 4.0] = 2
    tissue = np.where(labels == 0, 0, labels)  # 0 head, 1 oedema, 2 necrosis, 3 enhancing
    channels = _CONTRAST[:, tissue] + rng.normal(0.0, 40.0, size=(4, *head.shape))
    image = np.where(head, np.clip(channels, 1.0, None), 0.0)
    return np.moveaxis(image, 0, -1).astype(np.float32), labels


def write_tumours(root: Path, n_cases: int, seed: int) -> None:
    """An MSD-layout four-channel dataset, ``dataset.json`` last."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    affine = np.diag([SPACING, SPACING, SPACING, 1.0])
    training = []
    for index in range(n_cases):
        image, labels = tumour_case(seed + index)
        name = f"tumour_{index:03d}.nii.gz"
        nib.save(nib.Nifti1Image(image, affine), root / "imagesTr" / name)
        nib.save(nib.Nifti1Image(labels, affine), root / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    meta = {
        "name": "Tumours",
        "modality": dict(enumerate(CHANNELS)),
        "labels": {"0": "background", "1": "oedema", "2": "necrosis", "3": "enhancing"},
        "numTraining": n_cases,
        "training": training,
    }
    (root / "dataset.json").write_text(json.dumps(meta), encoding="utf-8")


class TumourData(DecathlonDataSettings):
    n_cases: int = 4


class TumourSettings(SegmentationSettings):
    data: TumourData = TumourData()


def prepare_tumours(
    settings: TumourSettings, binding: ProjectBinding[TumourSettings]
) -> SegmentationData:
    data = settings.data
    generated = GeneratedData(
        prefix="tumours",
        key=[settings.seed, data.n_cases, EDGE],
        write=lambda root: write_tumours(root, data.n_cases, settings.seed),
    )
    return load_or_generate(binding, settings, data, generated)


TUMOUR_YAML = f"""\
project: {TUMOUR}
seed: 5
docker:
  image: medai/{TUMOUR}
data:
  regions:
    whole_tumour: [1, 2, 3]
    tumour_core: [2, 3]
    enhancing_tumour: [3]
  region_class_order: [1, 2, 3]
preprocessing:
  target_spacing: [{SPACING}, {SPACING}, {SPACING}]
  patch_size: [16, 16, 16]
  normalize: zscore
model:
  channels: [4, 8, 16]
  strides: [2, 2]
  num_res_units: 1
"""


def make_tumour_project(root: Path, network=None) -> DemoProject[TumourSettings]:
    package = write_demo_repo(root, TUMOUR, "tumour_seg", TUMOUR_YAML)
    binding = ProjectBinding(package, TumourSettings)
    project = SegmentationProject(
        binding, prepare_tumours, modality="MRI", target="a brain tumour", network=network
    )
    return DemoProject(root, project)


@pytest.fixture
def tumours(tmp_path) -> DemoProject[TumourSettings]:
    """The four-channel region project ``tumour-seg`` in a repo folder under ``tmp_path``."""
    return make_tumour_project(tmp_path / "repo")


@pytest.fixture(scope="session")
def make_tumours():
    """``make_tumours(root, network=None)``: the project, with a project network if given."""
    return make_tumour_project


@pytest.fixture
def make_tumour_case():
    """``make_tumour_case(seed)`` -> ``(X, Y, Z, 4)`` intensities and the label map."""
    return tumour_case
