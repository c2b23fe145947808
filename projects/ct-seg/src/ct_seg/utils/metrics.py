"""ct-seg is scored per case by organ and lesion Dice and HD95 in millimetres."""

from medai.segmentation.metrics import CaseScore, score_case

__all__ = ["CaseScore", "score_case"]
