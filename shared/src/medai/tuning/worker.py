"""``python -m medai.tuning.worker``: one worker process of a search.

Started by ``python -m medai.tuning`` (``--workers`` of them on a machine), never by
hand: it loads the project's config with the search's ``--set`` overrides, joins the
study in the storage named by ``MEDAI_TUNE_STORAGE`` (in the environment, so the
password is not on a command line ``ps`` shows), and runs queued trials until none is
queued or running (``medai.tuning.study.work``). ``--threads`` is its share of the
machine's cores: torch's CPU threads, so W workers do not each spin up every core.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

from medai.cli import load_for_command
from medai.tuning.errors import TuningError, guarded

LOGGER = logging.getLogger("medai.tuning.worker")
STORAGE_VARIABLE = "MEDAI_TUNE_STORAGE"


def parser() -> argparse.ArgumentParser:
    """The worker's options (the launcher passes them)."""
    parser = argparse.ArgumentParser(description="One worker of a medai.tuning search.")
    parser.add_argument("--project", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Work off the study's queued trials; 0 when none is left, 2 on a user error."""
    args = parser().parse_args(argv)
    return guarded(lambda: _work(args))


def _work(args: argparse.Namespace) -> None:
    from medai.tuning.project import find_project  # noqa: PLC0415 - after the options
    from medai.tuning.storage import check_storage, redacted  # noqa: PLC0415

    url = os.environ.get(STORAGE_VARIABLE, "")
    if not url:
        raise TuningError(f"{STORAGE_VARIABLE} is not set (python -m medai.tuning sets it)")
    tuned = find_project(args.project)
    settings = load_for_command(tuned.binding, args.overrides)
    url = check_storage(url)
    if args.threads is not None:
        import torch  # noqa: PLC0415 - a worker trains: torch is needed anyway

        torch.set_num_threads(max(1, args.threads))

    import optuna  # noqa: PLC0415
    from optuna.trial import FrozenTrial  # noqa: PLC0415 - optuna and MLflow after the checks

    from medai.tuning.names import PARENT_RUN_ATTR  # noqa: PLC0415
    from medai.tuning.runs import end_stale_child  # noqa: PLC0415
    from medai.tuning.storage import open_storage  # noqa: PLC0415
    from medai.tuning.study import load, retry_stale, work  # noqa: PLC0415
    from medai.tuning.trial import objective_for  # noqa: PLC0415

    tune = settings.tune
    retry = retry_stale(tune.max_retries)
    repo_root = tuned.binding.repo_root

    def on_stale(study: optuna.Study, trial: FrozenTrial) -> None:
        ended = end_stale_child(
            settings, repo_root, study=study.study_name, trial_number=trial.number
        )
        LOGGER.warning(
            "trial %d: its worker stopped answering for %d s; failed (MLflow run %s ended "
            "FAILED) and queued again",
            trial.number,
            tune.grace_s,
            ", ".join(ended) or "none",
        )
        retry(study, trial)

    storage = open_storage(
        url, heartbeat_s=tune.heartbeat_s, grace_s=tune.grace_s, on_stale=on_stale
    )
    study = load(storage, args.study, tune)
    if study is None:
        raise TuningError(f"no study {args.study!r} in {redacted(url)}")
    objective = objective_for(
        tuned,
        tune.distributions(),
        args.overrides,
        parent_run_id=str(study.user_attrs[PARENT_RUN_ATTR]),
        study=args.study,
        storage=redacted(url),
    )
    counts = work(study, objective, poll_s=float(tune.heartbeat_s))
    states = ", ".join(
        f"{count} {state.name.lower()}"
        for state, count in sorted(counts.items(), key=lambda item: item[0].value)
    )
    LOGGER.info("worker %d done: study %s has %s trials", os.getpid(), args.study, states)


if __name__ == "__main__":
    raise SystemExit(main())
