"""ct-seg versions are registered with an ONNX export and their preprocessing."""

from medai.segmentation.registry import load_registered_model, register_model

__all__ = ["load_registered_model", "register_model"]
