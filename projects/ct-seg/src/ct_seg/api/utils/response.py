"""ct-seg's predict answers: the label mask as NIfTI, or volumes as JSON."""

from medai.segmentation.serving.response import SegmentationSummary, nifti_gz_bytes, summarize

__all__ = ["SegmentationSummary", "nifti_gz_bytes", "summarize"]
