"""cxr-cls uses the kind's metrics: AUROC with a bootstrap CI, sensitivity, specificity, ECE.

To add its own per-finding metrics, define ``LabelMetric`` s here
(``medai.classification.extensions``) and hand them to
``ClassificationProject(metrics=...)`` in ``settings.py``.
"""

from medai.classification.metrics import ClassificationReport, evaluate_classifier

__all__ = ["ClassificationReport", "evaluate_classifier"]
