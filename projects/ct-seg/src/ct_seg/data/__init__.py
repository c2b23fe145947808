"""Data sources for ct_seg: a synthetic MSD-layout CT phantom generator."""

from ct_seg.data.synthetic import PhantomSpec, generate_phantom_dataset

__all__ = ["PhantomSpec", "generate_phantom_dataset"]
