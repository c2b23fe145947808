"""brain-mri's data source: the configured MSD / nnU-Net folder, else sample spheres.

The samples are MONAI's synthetic test volumes (``create_test_image_3d``: bright balls,
label 1, in uniform noise), written as NIfTI in the MSD layout into
``data/raw/spheres-<hash>``; the hash covers every setting that shapes them, so changing
one generates a new folder instead of reusing a stale one. The folder appears only once
complete (``medai.data.staging``), so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medai.data.staging import staged_folder
from medai.io import write_nifti
from medai.segmentation.data import GeneratedData, SegmentationData, load_or_generate

if TYPE_CHECKING:
    from brain_mri.settings import BrainMriSettings, SphereSettings
    from medai.project import ProjectBinding

GENERATOR_VERSION = 1
"""Bumped whenever the same settings would draw different volumes."""

LABELS = {"0": "background", "1": "sphere"}


def write_spheres(folder: Path, spheres: SphereSettings, seed: int) -> None:
    """Write the sample dataset into an empty ``folder``: images, label maps, ``dataset.json``."""
    # MONAI takes seconds to import: only generating the samples pays for it.
    from monai.data.synthetic import create_test_image_3d  # noqa: PLC0415

    affine = np.diag([spheres.spacing, spheres.spacing, spheres.spacing, 1.0])
    state = np.random.RandomState(seed)  # the generator type create_test_image_3d takes
    cases = [f"sphere_{index:03d}.nii.gz" for index in range(spheres.n_cases)]
    for case in cases:
        image, label = create_test_image_3d(
            spheres.edge,
            spheres.edge,
            spheres.edge,
            num_objs=spheres.spheres,
            rad_min=spheres.radius[0],
            rad_max=spheres.radius[1],
            noise_max=spheres.noise,
            num_seg_classes=1,
            random_state=state,
        )
        write_nifti(folder / "imagesTr" / case, image.astype(np.float32), affine)
        write_nifti(folder / "labelsTr" / case, label, affine, dtype=np.uint8)
    meta = {
        "name": "brain-mri-spheres",
        "description": f"MONAI create_test_image_3d spheres, generator v{GENERATOR_VERSION}",
        "modality": {"0": "MRI"},
        "labels": LABELS,
        "numTraining": len(cases),
        "training": [{"image": f"./imagesTr/{c}", "label": f"./labelsTr/{c}"} for c in cases],
    }
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def generate_spheres(root: Path, spheres: SphereSettings, seed: int) -> Path:
    """Generate the sample dataset as ``root``, which appears only when it is complete."""
    with staged_folder(root, replace=True) as folder:
        write_spheres(folder, spheres, seed)
    return root


def prepare_dataset(
    settings: BrainMriSettings, binding: ProjectBinding[BrainMriSettings]
) -> SegmentationData:
    """The configured dataset, or the spheres (generated on first use), and the split."""
    spheres = settings.data.synthetic
    generated = GeneratedData(
        prefix="spheres",
        key=[GENERATOR_VERSION, settings.seed, spheres.model_dump(mode="json")],
        write=lambda root: generate_spheres(root, spheres, settings.seed),
    )
    return load_or_generate(binding, settings, settings.data, generated)
