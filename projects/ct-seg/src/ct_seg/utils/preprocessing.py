"""ct-seg uses the kind's preprocessing: geometry and intensity from its config.

To normalise intensities its own way, write a numpy function ``(C, X, Y, Z) -> float32``
here, hand it to ``SegmentationProject(normalizer=...)`` in ``settings.py`` and set
``preprocessing.normalize: project`` (``medai.segmentation.extensions``).
"""

from medai.segmentation.transforms import inference_transforms, training_transforms

__all__ = ["inference_transforms", "training_transforms"]
