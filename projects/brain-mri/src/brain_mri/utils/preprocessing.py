"""brain-mri's preprocessing is the kind's, configured: RAS, 2 mm, z-score per channel.

``preprocessing.normalize: zscore`` z-scores each MRI channel over its nonzero (head)
voxels on the input grid, before resampling, in training (MONAI) and serving (numpy).
"""

from medai.segmentation.transforms import inference_transforms, training_transforms

__all__ = ["inference_transforms", "training_transforms"]
