"""ct-seg uses the kind's metrics: Dice and HD95 (mm) per structure, with CIs.

To add its own, define ``StructureMetric`` s here (``medai.segmentation.extensions``) and
hand them to ``SegmentationProject(metrics=...)`` in ``settings.py``.
"""

from medai.segmentation.metrics import CaseScore, score_case

__all__ = ["CaseScore", "score_case"]
