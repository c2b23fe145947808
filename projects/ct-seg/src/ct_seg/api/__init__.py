"""ct-seg's inference server: the shared app factory plus ct-seg's predict route.

Importing this package must not import torch, MONAI or MLflow (the ONNX backend serves
without them); the torch backend imports them only when selected.
"""
