"""ct-seg's preprocessing: RAS, 1.5 mm and the HU window of the config, in MONAI chains."""

from medai.segmentation.transforms import inference_transforms, training_transforms

__all__ = ["inference_transforms", "training_transforms"]
