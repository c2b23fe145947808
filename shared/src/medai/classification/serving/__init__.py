"""The classification server's parts: model loaders, the ``/v1/predict`` route, its bodies.

No torch, MONAI, MLflow, matplotlib or scikit-learn on the ONNX path: ``app``, ``model``
(its ONNX loader), ``predict``, ``response`` and ``validation`` import numpy, Pillow,
pydicom, FastAPI and ONNX Runtime only; the torch backend imports the heavy stack when
it is selected.
"""
