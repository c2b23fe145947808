"""brain-mri is scored per case and structure by Dice and HD95 in millimetres."""

from medai.segmentation.metrics import CaseScore, score_case

__all__ = ["CaseScore", "score_case"]
