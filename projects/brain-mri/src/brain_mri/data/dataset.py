"""brain-mri's data source: the configured MSD / nnU-Net folder, else seeded brain phantoms.

The phantoms (``data/synthetic.py``) are written in the configured layout into
``data/raw/synthetic-brain-<hash>``; the hash covers the generator version, the seed and
every phantom setting, so changing one generates a new folder instead of reusing a stale
one. The folder appears only once complete, so an interrupted run leaves nothing
half-written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brain_mri.data.synthetic import GENERATOR_VERSION, PhantomSpec, generate_phantom_dataset
from medai.segmentation.data import GeneratedData, SegmentationData, load_or_generate

if TYPE_CHECKING:
    from brain_mri.settings import BrainMriSettings
    from medai.project import ProjectBinding


def prepare_dataset(
    settings: BrainMriSettings, binding: ProjectBinding[BrainMriSettings]
) -> SegmentationData:
    """The configured dataset, or the phantoms (generated on first use), and the split."""
    phantoms = settings.data.synthetic
    spec = PhantomSpec(shape=phantoms.shape, spacing=phantoms.spacing, noise=phantoms.noise)
    generated = GeneratedData(
        prefix="synthetic-brain",
        key=[GENERATOR_VERSION, settings.seed, phantoms.model_dump(mode="json")],
        write=lambda root: generate_phantom_dataset(
            root, phantoms.n_cases, seed=settings.seed, spec=spec, layout=phantoms.layout
        ),
    )
    return load_or_generate(binding, settings, settings.data, generated)
