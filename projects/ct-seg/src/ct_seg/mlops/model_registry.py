"""ct-seg versions are registered with their ONNX export and HU window, loaded by alias."""

from medai.segmentation.registry import load_registered_model, register_model

__all__ = ["load_registered_model", "register_model"]
