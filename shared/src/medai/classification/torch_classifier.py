"""Classify radiographs with a ``CamClassifier`` in PyTorch: evaluation, prediction, torch serving.

The same contract as ``OnnxClassifier`` (probabilities and CAMs per image from the same
preprocessing function), so evaluation measures what the ONNX server answers and the
torch backend can check the export.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from medai.classification.extensions import ImageStep
from medai.classification.networks import CamClassifier
from medai.classification.onnx_classifier import ClassifierOutput, sigmoid
from medai.classification.preprocessing import to_model_batch


class TorchClassifier:
    """Probabilities and CAMs of radiographs from a trained ``CamClassifier`` (CPU)."""

    def __init__(
        self,
        network: CamClassifier,
        image_size: int,
        labels: Sequence[str],
        *,
        standardize: bool = False,
        batch_size: int = 32,
        image_step: ImageStep | None = None,
    ) -> None:
        """Hold the network in eval mode.

        ``image_step`` is the project's, for a model trained with it (see
        ``medai.classification.preprocessing.prepare_image``).

        Raises:
            ValueError: the network's number of outputs differs from ``labels``.
        """
        if network.num_labels != len(labels):
            raise ValueError(
                f"the network has {network.num_labels} outputs, {len(labels)} labels are given"
            )
        self.network = network.eval()
        self.exportable = network.exportable().eval()
        self.image_size = image_size
        self.labels = tuple(labels)
        self.standardize = standardize
        self.batch_size = batch_size
        self.image_step = image_step

    def predict(self, pixels: NDArray[np.floating] | NDArray[np.integer]) -> ClassifierOutput:
        """Probabilities and CAMs of one radiograph ``(H, W)`` in ``[0, 1]``."""
        return self.predict_batch([pixels])[0]

    def predict_batch(
        self, images: Sequence[NDArray[np.floating] | NDArray[np.integer]]
    ) -> list[ClassifierOutput]:
        """``predict`` for several radiographs, ``batch_size`` at a time."""
        outputs: list[ClassifierOutput] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = to_model_batch(
                chunk, self.image_size, standardize=self.standardize, image_step=self.image_step
            )
            with torch.inference_mode():
                logits, cams = self.exportable(torch.from_numpy(batch))
            probabilities = sigmoid(logits.numpy())
            outputs.extend(
                ClassifierOutput(
                    probabilities={
                        label: float(p) for label, p in zip(self.labels, row, strict=True)
                    },
                    cams=np.asarray(maps, dtype=np.float32),
                )
                for row, maps in zip(probabilities, cams.numpy(), strict=True)
            )
        return outputs
