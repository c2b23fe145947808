"""The typed configuration of cxr-cls, resolved once per command from the config layers.

Everything but the data section is the classification kit's (``medai.classification``);
``PROJECT`` is what the kit's commands and server are given.
"""

from __future__ import annotations

from pydantic import Field

import cxr_cls
from cxr_cls.data.dataset import prepare_dataset
from cxr_cls.data.synthetic import FINDINGS
from cxr_cls.utils.medical_utils import FINDING_DESCRIPTIONS
from medai.classification.project import ClassificationProject
from medai.classification.settings import ClassificationSettings, RadiographDataSettings
from medai.config import Section
from medai.project import ProjectBinding

MIN_IMAGE_EDGE = 32


class SyntheticDataSettings(Section):
    """The chest radiographs generated when ``data.source`` is ``synthetic``."""

    n_patients: int = Field(default=300, ge=4)
    images_per_patient: tuple[int, int] = Field(
        default=(1, 3), description="Inclusive range of images per patient."
    )
    size: int = Field(default=128, ge=MIN_IMAGE_EDGE, description="Image edge in pixels.")
    dicom_fraction: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Images written as DICOM DX (the rest PNG)."
    )


class DataSettings(RadiographDataSettings):
    """Synthetic radiographs, a CheXpert/NIH label CSV, or a MedMNIST file."""

    labels: tuple[str, ...] = Field(default=FINDINGS, min_length=1)
    synthetic: SyntheticDataSettings = SyntheticDataSettings()


class CxrClsSettings(ClassificationSettings):
    """Everything cxr-cls reads from configuration."""

    data: DataSettings = DataSettings()


BINDING = ProjectBinding(cxr_cls.__file__, CxrClsSettings)
PROJECT = ClassificationProject(BINDING, prepare_dataset, "chest radiograph", FINDING_DESCRIPTIONS)
