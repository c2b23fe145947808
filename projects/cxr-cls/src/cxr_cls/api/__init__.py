"""The cxr-cls inference server: the shared app factory plus this project's route.

Importing this package must not import torch, MONAI or MLflow (the ONNX backend serves
without them); the torch backend imports them only when selected.
"""
