"""The dataset a command uses: the configured MSD / nnU-Net folder, or the synthetic default."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ct_seg.data.synthetic import GENERATOR_VERSION, PhantomSpec, generate_phantom_dataset
from ct_seg.settings import CtSegSettings, resolve_path
from medai.config import ConfigError
from medai.data import DecathlonDataset, Split, load_decathlon, resolve_split



def synthetic_dataset_dir(settings: CtSegSettings) -> Path:
    """Folder of the generated dataset, named by everything that determines its content."""
    synthetic = settings.data.synthetic
    key = json.dumps(
        [
            GENERATOR_VERSION,
            settings.seed,
            synthetic.n_cases,
            synthetic.shape,
            synthetic.shape_jitter,
            synthetic.spacing,
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return resolve_path(settings.data.root) / "raw" / f"synthetic-ct-{digest}"


def prepare_dataset(settings: CtSegSettings) -> DecathlonDataset:
    """Load the configured dataset, generating the synthetic one on first use."""
    if settings.data.dataset_dir is not None:
        return load_decathlon(resolve_path(settings.data.dataset_dir))
    if not settings.data.allow_synthetic:
        # Checked here, where data is needed, so a production server needs no dataset.
        raise ConfigError(
            "data.dataset_dir",
            None,
            f"required in the {settings.environment!r} environment (data.allow_synthetic is "
            "false): point it at an MSD / nnU-Net dataset folder",
        )
    root = synthetic_dataset_dir(settings)
    if not (root / "dataset.json").is_file():
        synthetic = settings.data.synthetic
        spec = PhantomSpec(shape=synthetic.shape, spacing=synthetic.spacing, shape_jitter=synthetic.shape_jitter)
        generate_phantom_dataset(root, synthetic.n_cases, seed=settings.seed, spec=spec)
    return load_decathlon(root)


def dataset_split(settings: CtSegSettings, dataset: DecathlonDataset) -> Split:
    """The case-level split, recorded under ``<data.root>/processed/<dataset>/split.json``."""
    record = resolve_path(settings.data.root) / "processed" / dataset.root.name / "split.json"
    return resolve_split(
        dataset.root,
        [case.case_id for case in dataset.cases],
        validation_fraction=settings.data.validation_fraction,
        seed=settings.seed,
        record_to=record,
    )
