"""What cxr-cls answers: a probability per label, the positives, optional Grad-CAMs."""

from medai.classification.serving.response import ClassificationResult, classification_result

__all__ = ["ClassificationResult", "classification_result"]
