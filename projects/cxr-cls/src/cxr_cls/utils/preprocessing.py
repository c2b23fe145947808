"""cxr-cls resizes each radiograph (grey levels in [0, 1]) to the model's square input.

The same function prepares training images and server uploads.
"""

from medai.classification.preprocessing import prepare_image, to_model_input

__all__ = ["prepare_image", "to_model_input"]
