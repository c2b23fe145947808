"""The contract of a cxr-cls network: global average pooling + one linear layer.

For that head the class activation maps equal Grad-CAM, so ``exportable()`` gives the
ONNX server both the logits and the heatmaps without a backward pass.
"""

from medai.classification.networks import CamClassifier, CamExport

__all__ = ["CamClassifier", "CamExport"]
