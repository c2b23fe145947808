"""ct-seg's predict responses: the organ/lesion mask as NIfTI, or volumes in ml as JSON."""

from medai.segmentation.serving.response import SegmentationSummary, nifti_gz_bytes, summarize

__all__ = ["SegmentationSummary", "nifti_gz_bytes", "summarize"]
