"""What one segmentation costs, planned from the volume's header: shared by both backends.

``OnnxSegmenter`` (numpy, the server) and ``Segmenter`` (MONAI, training and the torch
backend) run the same steps with different intermediates, so they plan alike and differ
only in ``backend``. A multi-channel input (``ChannelVolume``, e.g. four MRI contrasts)
is planned with every channel counted, from its header, before any of them is touched.
Importing this module needs no torch.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from medai.config.sections import WorkLimits
from medai.inference import WorkPlan, check_work, plan_volume_segmentation
from medai.io import ChannelVolume, Volume
from medai.segmentation.settings import InferenceSettings, PreprocessingSettings


class PlannedSegmentation:
    """``plan`` and ``check`` of a segmenter from its settings, classes and limits.

    A subclass names its ``backend``: the intermediates it holds differ, the grids do not.
    """

    backend: ClassVar[Literal["numpy", "monai"]]
    prep: PreprocessingSettings
    inference: InferenceSettings
    classes: int
    limits: WorkLimits

    def plan(self, volume: Volume | ChannelVolume) -> WorkPlan:
        """Every grid, the windows and the memory ``segment(volume)`` needs, from its header."""
        return plan_volume_segmentation(
            volume.shape,
            volume.affine,
            orientation=self.prep.orientation,
            target_spacing=self.prep.target_spacing,
            patch_size=self.prep.patch_size,
            overlap=self.inference.overlap,
            sw_batch_size=self.inference.sw_batch_size,
            classes=self.classes,
            input_dtype=volume.array.dtype,
            backend=self.backend,
            channels=channels_of(volume),
            normalize=self.prep.normalize,
        )

    def check(self, volume: Volume | ChannelVolume) -> None:
        """Refuse a volume whose segmentation would exceed ``limits``; allocates nothing.

        Raises:
            WorkLimitError: A grid, the windows or the memory exceed their limit.
        """
        check_work(self.plan(volume), self.limits)


def channels_of(volume: Volume | ChannelVolume) -> int:
    """Input channels of ``volume``: a ``Volume`` is one, a ``ChannelVolume`` says."""
    return len(volume.channels) if isinstance(volume, ChannelVolume) else 1
