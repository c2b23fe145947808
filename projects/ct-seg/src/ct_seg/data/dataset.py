"""The dataset a ct-seg command uses: the configured MSD / nnU-Net folder, or CT phantoms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ct_seg.data.synthetic import GENERATOR_VERSION, PhantomSpec, generate_phantom_dataset
from medai.segmentation.data import GeneratedData, SegmentationData, load_or_generate

if TYPE_CHECKING:
    from ct_seg.settings import CtSegSettings
    from medai.project import ProjectBinding


def prepare_dataset(
    settings: CtSegSettings, binding: ProjectBinding[CtSegSettings]
) -> SegmentationData:
    """The configured dataset, or seeded phantoms generated on first use, and the split.

    The phantom folder (``data/raw/synthetic-ct-<hash>``) is named by everything that
    determines its content, so changing a phantom setting generates a new one.
    """
    phantoms = settings.data.synthetic
    spec = PhantomSpec(
        shape=phantoms.shape, spacing=phantoms.spacing, shape_jitter=phantoms.shape_jitter
    )
    generated = GeneratedData(
        prefix="synthetic-ct",
        key=[
            GENERATOR_VERSION,
            settings.seed,
            phantoms.n_cases,
            phantoms.shape,
            phantoms.shape_jitter,
            phantoms.spacing,
        ],
        write=lambda root: generate_phantom_dataset(
            root, phantoms.n_cases, seed=settings.seed, spec=spec
        ),
    )
    return load_or_generate(binding, settings, settings.data, generated)
