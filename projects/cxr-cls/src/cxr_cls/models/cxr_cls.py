"""The cxr-cls network: a small MONAI DenseNet on one radiograph channel, four findings.

Its shape is ``configs/model_configs/cxr-cls.yaml``; ``build_network`` makes it.
"""

from medai.classification.model_factory import build_network

__all__ = ["build_network"]
