"""The dataset a cxr-cls command uses: synthetic radiographs, a label CSV, or MedMNIST."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cxr_cls.data.synthetic import generate_dataset
from medai.classification.data import ClassificationData, load_radiograph_data

if TYPE_CHECKING:
    from cxr_cls.settings import CxrClsSettings
    from medai.project import ProjectBinding

SYNTHETIC_FOLDER = "synthetic-cxr"


def prepare_dataset(
    settings: CxrClsSettings, binding: ProjectBinding[CxrClsSettings]
) -> ClassificationData:
    """The configured dataset and its patient-level split.

    The synthetic radiographs are generated on first use into
    ``<data.root>/raw/synthetic-cxr/`` and reused while their settings stay the same
    (the generator replaces them when a setting changes).
    """
    synthetic = settings.data.synthetic

    def write_sample(raw: Path) -> Path:
        return generate_dataset(
            raw / SYNTHETIC_FOLDER,
            n_patients=synthetic.n_patients,
            images_per_patient=synthetic.images_per_patient,
            size=synthetic.size,
            seed=settings.seed,
            dicom_fraction=synthetic.dicom_fraction,
        )

    return load_radiograph_data(binding, settings, settings.data, write_sample)
