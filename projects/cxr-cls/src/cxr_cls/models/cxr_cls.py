"""cxr-cls uses the kind's network: a small MONAI DenseNet with a CAM head, four findings.

Its shape is ``configs/model_configs/cxr-cls.yaml``; ``build_network`` makes it. To bring
its own, build a ``CamClassifier`` here (a subclass or another configuration: one input
channel, one logit per label) and hand a factory ``(settings, in_channels, num_labels) ->
network`` to ``ClassificationProject(network=...)`` in ``settings.py``; training checks
it fits the data before it starts.
"""

from medai.classification.model_factory import build_network

__all__ = ["build_network"]
