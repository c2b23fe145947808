"""Sliding-window segmentation of a whole volume with torch and MONAI, on the input's grid.

Training validates, evaluation scores and ``predict`` segments through this one class;
the server's ``OnnxSegmenter`` reproduces it without torch (tested for parity).
"""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.transforms import SpatialResample

from medai.io import Volume
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings
from medai.segmentation.transforms import IMAGE, inference_transforms, volume_to_metatensor


class Segmenter:
    """Turns a volume into a label map with a trained network.

    The network runs in the training geometry (orientation, spacing); its logits are
    resampled back to the input's grid, so the mask overlays the input voxel for voxel
    and can be saved with the input's affine.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        prep: PreprocessingSettings,
        inference: InferenceSettings,
        device: str = "cpu",
    ) -> None:
        """Keep the network in eval mode with the settings it was trained with."""
        self.network = network.to(device).eval()
        self.prep = prep
        self.inference = inference
        self.device = device
        self.transforms = inference_transforms(prep)

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
        """Label map (uint8) with the shape of ``volume.array``."""
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
