"""The best trial of a study, as ``--set`` overrides a user can train with.

Written to ``<tune.output_dir>/<study>/best.yaml`` (relative: the project folder) and
logged to the study's parent run::

    study: cxr-cls-20261203-101500
    trial: 3
    metric: best_val_auroc_macro
    value: 0.8713
    mlflow_run_id: 5b1e...
    params: {train.learning_rate: 0.0021}
    overrides: [train.learning_rate=0.0021]

``uv run invoke train --project=cxr-cls --set train.learning_rate=0.0021`` trains it again.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from medai.tuning.names import METRIC_ATTR, OVERRIDES_ATTR, RUN_ID_ATTR
from medai.tuning.trial import as_overrides

BEST_FILE = "best.yaml"


@dataclass(frozen=True)
class BestTrial:
    """The best COMPLETE trial of a study.

    Attributes:
        study: The study's name.
        trial: The trial's number.
        metric: What its value is (``best_val_auroc_macro``).
        value: Its value.
        mlflow_run_id: Its MLflow child run.
        params: Its sampled values by config key.
        overrides: The same as ``--set`` overrides.
    """

    study: str
    trial: int
    metric: str
    value: float
    mlflow_run_id: str
    params: dict[str, Any]
    overrides: tuple[str, ...]

    def text(self) -> str:
        """``best.yaml``'s text: a comment saying how to use it, then the data."""
        header = (
            f"# The best trial of study {self.study} (medai.tuning). Train it again with\n"
            f"#   {' '.join('--set ' + item for item in self.overrides)}\n"
        )
        data = {**asdict(self), "overrides": list(self.overrides)}
        return header + yaml.safe_dump(data, sort_keys=False)

    def line(self) -> str:
        """The command's report of the best trial."""
        values = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"best trial {self.trial}: {self.metric} {self.value:.4f} with {values}"


def best_of(study: optuna.Study) -> BestTrial | None:
    """The study's best COMPLETE trial (None when no trial completed)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    params = dict(best.params)
    overrides = best.user_attrs.get(OVERRIDES_ATTR) or as_overrides(params)
    return BestTrial(
        study=study.study_name,
        trial=best.number,
        metric=str(best.user_attrs.get(METRIC_ATTR, "value")),
        value=float(best.value) if best.value is not None else float("nan"),
        mlflow_run_id=str(best.user_attrs.get(RUN_ID_ATTR, "")),
        params=params,
        overrides=tuple(str(item) for item in overrides),
    )


def write_best(folder: Path, text: str) -> Path:
    """Write ``folder/best.yaml`` atomically (a reader never sees half of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / BEST_FILE
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=".best-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(scratch).replace(target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target
