"""Build the configured ``CamClassifier``: the one place the ``model`` section meets torch."""

from __future__ import annotations

from medai.classification.networks import CamClassifier
from medai.classification.settings import ModelSettings


def build_network(model: ModelSettings, num_labels: int, in_channels: int = 1) -> CamClassifier:
    """A fresh ``CamClassifier`` shaped by the ``model`` section (seed torch first)."""
    return CamClassifier(
        num_labels,
        in_channels=in_channels,
        init_features=model.init_features,
        growth_rate=model.growth_rate,
        block_config=model.block_config,
        bn_size=model.bn_size,
        dropout_prob=model.dropout,
    )
