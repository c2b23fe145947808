"""CT helpers of ct-seg: display windows, structure volumes in ml."""

from medai.segmentation.measures import display_window, label_volumes_ml

__all__ = ["display_window", "label_volumes_ml"]
