"""What every cxr-cls network is: pooled features, one linear layer, CAMs for free."""

from medai.classification.networks import CamClassifier

__all__ = ["CamClassifier"]
