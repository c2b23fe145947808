"""brain-mri's preprocessing: orientation, spacing, intensity window (MONAI)."""

from medai.segmentation.transforms import inference_transforms, training_transforms

__all__ = ["inference_transforms", "training_transforms"]
