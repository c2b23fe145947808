"""brain-mri is scored by Dice and HD95 (mm) per case and nested region, with CIs.

The regions are whole tumour, tumour core and enhancing tumour; the metrics and their
bootstrap confidence intervals are the kind's region scores.
"""

from medai.segmentation.metrics import CaseScore, score_case

__all__ = ["CaseScore", "score_case"]
