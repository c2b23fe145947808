"""cxr-cls uses the kind's preprocessing: grey levels in [0, 1], resized to the square input.

The same function prepares training images and server uploads. To add its own step, write
a numpy function ``(S, S) float32 -> (S, S) float32`` here, hand it to
``ClassificationProject(image_step=...)`` in ``settings.py`` and set
``preprocessing.image_step: project`` (``medai.classification.extensions``).
"""

from medai.classification.preprocessing import prepare_image, to_model_input

__all__ = ["prepare_image", "to_model_input"]
