"""CT helpers: HU display windows (abdomen -200..300), lesion and organ volumes in ml."""

from medai.segmentation.measures import display_window, label_volumes_ml

__all__ = ["display_window", "label_volumes_ml"]
