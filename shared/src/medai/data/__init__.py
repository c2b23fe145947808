"""Dataset layouts, case-level splits and data manifests shared by the projects."""

from medai.data.decathlon import (
    DatasetError,
    DecathlonDataset,
    LabelledCase,
    case_id_of,
    load_decathlon,
)
from medai.data.labels import LabelCsvError, LabelledImage, read_label_csv
from medai.data.manifest import DataManifest, ManifestEntry, build_manifest
from medai.data.medmnist import read_medmnist
from medai.data.split import (
    Split,
    check_no_group_leak,
    make_group_split,
    make_split,
    resolve_split,
)

__all__ = [
    "DataManifest",
    "DatasetError",
    "DecathlonDataset",
    "LabelCsvError",
    "LabelledCase",
    "LabelledImage",
    "ManifestEntry",
    "Split",
    "build_manifest",
    "case_id_of",
    "check_no_group_leak",
    "load_decathlon",
    "make_group_split",
    "make_split",
    "read_label_csv",
    "read_medmnist",
    "resolve_split",
]
