"""Sliding-window segmentation of a whole volume with torch and MONAI, on the input's grid.

Training validates, evaluation scores and ``predict`` segments through this one class;
the server's ``OnnxSegmenter`` reproduces it without torch (tested for parity). Like it,
``segment`` first plans the whole chain from the volume's header and refuses it past
``limits`` (``medai.inference.budget``), before MONAI allocates anything. The input is
one channel (``Volume``) or several (``ChannelVolume``, e.g. four MRI contrasts); a
label-based model's logits become a label map by argmax, a region model's by sigmoid
and nnU-Net's region painting (``medai.segmentation.regions.label_map_from_regions``).
"""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.transforms import SpatialResample

from medai.config.sections import WorkLimits
from medai.io import ChannelVolume, Volume
from medai.segmentation.extensions import IntensityNormalizer
from medai.segmentation.regions import Regions, label_map_from_regions
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.transforms import (
    IMAGE,
    channels_to_metatensor,
    inference_transforms,
    volume_to_metatensor,
)
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
        regions: Regions | None = None,
        normalizer: IntensityNormalizer | None = None,
    ) -> None:
        """Keep the network in eval mode with the settings it was trained with.

        Args:
            network: ``(N, C, X, Y, Z)`` -> logits ``(N, K, X, Y, Z)``.
            prep: The preprocessing the network was trained with.
            inference: Sliding-window settings.
            device: Where the network runs.
            limits: The work one volume may cause (``settings.limits``); None: the defaults.
            classes: ``K`` (e.g. the model's label count); None: one per region, else
                the network says.
            regions: The regions a sigmoid model predicts (one output each); None: the
                outputs are label logits (argmax).
            normalizer: The project's normaliser, for ``prep.normalize == "project"``.
        """
        self.network = network.to(device).eval()
        self.prep = prep
        self.inference = inference
        self.device = device
        self.transforms = inference_transforms(prep, normalizer)
        self.limits = limits or WorkLimits()
        self.regions = regions
        self.classes = classes or (len(regions) if regions is not None else classes_of(network))

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Sliding-window logits of a preprocessed ``(N, C, X, Y, Z)`` batch."""
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

    def input_logits(self, volume: Volume | ChannelVolume) -> torch.Tensor:
        """Logits ``(K, *volume.shape)`` on the input grid (bilinear, border values outside).

        Raises:
            WorkLimitError: The volume's plan exceeds ``limits`` (checked before any work).
        """
        self.check(volume)
        image = (
            channels_to_metatensor(volume)
            if isinstance(volume, ChannelVolume)
            else volume_to_metatensor(volume)
        )
        processed = self.transforms({IMAGE: image})[IMAGE]
        logits = self.logits(processed.unsqueeze(0))[0]
        on_model_grid = MetaTensor(logits.cpu(), affine=processed.affine)
        resample = SpatialResample(mode="bilinear", padding_mode="border")
        on_input_grid = resample(
            on_model_grid,
            dst_affine=torch.from_numpy(volume.affine.astype(np.float64)),
            spatial_size=volume.shape,
        )
        return torch.as_tensor(on_input_grid)

    def segment(self, volume: Volume | ChannelVolume) -> np.ndarray:
        """Label map (uint8) with the shape of the volume's grid.

        Label logits: argmax. Region logits: resampled back, sigmoid, each region above
        0.5 painting its label in ``class_order`` (later regions win).

        Raises:
            WorkLimitError: The volume's plan exceeds ``limits`` (checked before any work).
        """
        logits = self.input_logits(volume)
        if self.regions is not None:
            return label_map_from_regions(torch.sigmoid(logits).numpy(), self.regions)
        return logits.argmax(dim=0).numpy().astype(np.uint8)
