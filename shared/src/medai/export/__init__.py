"""Export trained torch networks to ONNX, checked against torch (needs the ``train`` extra)."""

from medai.export.onnx import OnnxExportError, OnnxGraphSpec, check_onnx_matches, export_onnx

__all__ = ["OnnxExportError", "OnnxGraphSpec", "check_onnx_matches", "export_onnx"]
