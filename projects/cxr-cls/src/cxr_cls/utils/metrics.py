"""cxr-cls is scored per finding by AUROC (bootstrap CI), sensitivity, specificity and ECE."""

from medai.classification.metrics import ClassificationReport, evaluate_classifier

__all__ = ["ClassificationReport", "evaluate_classifier"]
