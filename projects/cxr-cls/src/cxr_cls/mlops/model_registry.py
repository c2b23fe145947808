"""cxr-cls versions carry their ONNX export, image size, labels and thresholds as tags."""

from medai.classification.registry import load_registered_classifier, register_classifier

__all__ = ["load_registered_classifier", "register_classifier"]
