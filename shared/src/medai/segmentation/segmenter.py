"""Sliding-window segmentation of a whole volume with torch and MONAI, on the input's grid.

Training validates, evaluation scores and ``predict`` segments through this one class;
the server's ``OnnxSegmenter`` reproduces it without torch (tested for parity). Like it,
``segment`` first plans the whole chain from the volume's header and refuses it past
``limits`` (``medai.inference.budget``), before MONAI allocates anything.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.transforms import SpatialResample

from medai.config.sections import WorkLimits
from medai.io import Volume
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.transforms import IMAGE, inference_transforms, volume_to_metatensor
from medai.segmentation.work_plan import PlannedSegmentation

DEFAULT_CLASSES = 2
"""Classes assumed for a network that does not say (background and one structure)."""


def classes_of(network: torch.nn.Module) -> int:
    """``K``, the network's logit channels: ``num_classes`` (ours) or ``out_channels`` (MONAI)."""
    for name in ("num_classes", "out_channels"):
        value = getattr(network, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CLASSES


class Segmenter(PlannedSegmentation):
    """Turns a volume into a label map with a trained network.

    The network runs in the training geometry (orientation, spacing); its logits are
    resampled back to the input's grid, so the mask overlays the input voxel for voxel
    and can be saved with the input's affine.
    """

    backend = "monai"

    def __init__(
        self,
        network: torch.nn.Module,
        prep: PreprocessingSettings,
        inference: InferenceSettings,
        device: str = "cpu",
        *,
        limits: WorkLimits | None = None,
        classes: int | None = None,
    ) -> None:
        """Keep the network in eval mode with the settings it was trained with.

        Args:
            network: ``(N, 1, X, Y, Z)`` -> logits ``(N, K, X, Y, Z)``.
            prep: The preprocessing the network was trained with.
            inference: Sliding-window settings.
            device: Where the network runs.
            limits: The work one volume may cause (``settings.limits``); None: the defaults.
            classes: ``K`` (e.g. the model's label count); None asks the network.
        """
        self.network = network.to(device).eval()
        self.prep = prep
        self.inference = inference
        self.device = device
        self.transforms = inference_transforms(prep)
        self.limits = limits or WorkLimits()
        self.classes = classes or classes_of(network)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Sliding-window logits of a preprocessed ``(N, 1, X, Y, Z)`` batch."""
        with torch.inference_mode():
            result = sliding_window_inference(
                image.to(self.device),
                roi_size=self.prep.patch_size,
                sw_batch_size=self.inference.sw_batch_size,
                predictor=self.network,
                overlap=self.inference.overlap,
                mode=self.inference.blend_mode,
            )
        # Plain tensor out: the caller decides which geometry the logits carry.
        return result.as_tensor() if isinstance(result, MetaTensor) else torch.as_tensor(result)

    def segment(self, volume: Volume) -> np.ndarray:
        """Label map (uint8) with the shape of ``volume.array``.

        Raises:
            WorkLimitError: The volume's plan exceeds ``limits`` (checked before any work).
        """
        self.check(volume)
        processed = self.transforms({IMAGE: volume_to_metatensor(volume)})[IMAGE]
        logits = self.logits(processed.unsqueeze(0))[0]
        on_model_grid = MetaTensor(logits.cpu(), affine=processed.affine)
        resample = SpatialResample(mode="bilinear", padding_mode="border")
        on_input_grid = resample(
            on_model_grid,
            dst_affine=torch.from_numpy(volume.affine.astype(np.float64)),
            spatial_size=volume.shape,
        )
        return torch.as_tensor(on_input_grid).argmax(dim=0).numpy().astype(np.uint8)
