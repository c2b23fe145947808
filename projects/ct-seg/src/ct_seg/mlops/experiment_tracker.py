"""ct-seg runs go to its MLflow experiment with lineage, config and the CT dataset manifest."""

from medai.tracking.runs import tracked_run

__all__ = ["tracked_run"]
