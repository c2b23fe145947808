"""Dataset layouts, case-level splits and data manifests shared by the projects."""

from medai.data.decathlon import (
    DatasetError,
    DecathlonDataset,
    LabelledCase,
    case_id_of,
    load_decathlon,
)
from medai.data.manifest import DataManifest, ManifestEntry, build_manifest
from medai.data.split import Split, make_split, resolve_split

__all__ = [
    "DataManifest",
    "DatasetError",
    "DecathlonDataset",
    "LabelledCase",
    "ManifestEntry",
    "Split",
    "build_manifest",
    "case_id_of",
    "load_decathlon",
    "make_split",
    "resolve_split",
]
