"""A cxr-cls version: its ONNX export with labels, image size and thresholds as tags."""

from medai.classification.registry import register_model

__all__ = ["register_model"]
