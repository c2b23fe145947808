"""cxr-cls's inference server: the shared app factory plus the radiograph predict route.

Importing this package must not import torch, MONAI, MLflow or matplotlib (the ONNX
backend classifies without them); the torch backend imports them only when selected.
"""
