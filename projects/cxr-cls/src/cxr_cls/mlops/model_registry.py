"""cxr-cls versions carry their ONNX export, image size, labels and thresholds as tags."""

from medai.classification.registry import load_registered_model, register_model

__all__ = ["load_registered_model", "register_model"]
