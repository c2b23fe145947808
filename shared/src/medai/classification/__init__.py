"""2D multi-label image classification: network, training, export, metrics, serving.

One module per concern, imported by name (nothing is re-exported here, so importing the
torch-free serving pieces never pulls in torch):

- ``extensions``: what a project may bring of its own (network, image step, metrics,
  figures) and the kind's defaults (numpy only).
- ``preprocessing``: resize a radiograph to the network's input (numpy + Pillow; shared
  by training and serving so both see identical inputs).
- ``onnx_classifier``: probabilities and Grad-CAM heatmaps from the exported ONNX file
  on ONNX Runtime (no torch, MONAI, MLflow, matplotlib or scikit-learn).
- ``networks``: ``CamClassifier``, a MONAI DenseNet with a global-average-pooling head
  whose class activation maps equal Grad-CAM (torch, MONAI).
- ``training``: the training loop (torch, MONAI).
- ``export``: ONNX export of logits and CAMs, checked against torch (torch, ONNX).
- ``metrics``: AUROC with bootstrap intervals, sensitivity/specificity, calibration
  (numpy, scikit-learn).
- ``plots``: ROC curves, reliability diagram, CAM overlays (matplotlib).
"""
