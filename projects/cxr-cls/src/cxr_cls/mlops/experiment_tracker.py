"""cxr-cls runs go to its MLflow experiment with lineage, config and data."""

from medai.tracking.runs import tracked_run

__all__ = ["tracked_run"]
