"""``python -m medai.tuning``: search a project's ``tune.space`` with Optuna, in MLflow.

::

    python -m medai.tuning --project NAME --trials N [--workers W] [--storage URL]
                           [--study NAME] [--register-best] [--set KEY=VALUE ...]

The first process of a study creates it (N trials queued), opens its MLflow parent run
and starts W workers here (``medai.tuning.worker``); the same command with the same
``--study`` and ``--storage`` on another machine joins it with W more. Everything a
user can get wrong (the project, the space, the options, the storage) is checked before
a study, a run or a worker exists: one ``error:`` line, exit status 2. At the end the
best trial is printed and written to ``<tune.output_dir>/<study>/best.yaml``;
``--register-best`` then trains that config once more and registers it as challenger.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medai.cli import load_for_command, say
from medai.config import ProjectSettings
from medai.tuning.errors import SearchIncompleteError, TuningError, guarded

if TYPE_CHECKING:
    import optuna

    from medai.tuning.best import BestTrial
    from medai.tuning.project import TunedProject

MAX_WORKERS = 64
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def parser() -> argparse.ArgumentParser:
    """The command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m medai.tuning",
        description="Search a project's tune.space (Optuna: TPE, median pruning); every "
        "trial an MLflow child run of the study's parent run.",
    )
    parser.add_argument("--project", required=True, help="a folder under projects/")
    parser.add_argument("--trials", required=True, type=int, help="trials that finish, in all")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes on this machine (default 1)"
    )
    parser.add_argument(
        "--storage",
        default=None,
        help="the study's database, any SQLAlchemy URL (default: sqlite:///<repo>/optuna.db; "
        "postgresql://USER:PASSWORD@HOST/DB for several machines)",
    )
    parser.add_argument(
        "--study", default=None, help="the study's name (default: <project>-<date>-<time>)"
    )
    parser.add_argument(
        "--register-best",
        action="store_true",
        help="train the best trial's config once more and register it as challenger",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for every trial, e.g. --set train.epochs=5 (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run or join a search; 0 when every trial finished, 2 on bad input, 1 when it fell short."""
    args = parser().parse_args(argv)
    return guarded(lambda: _search(args))


@dataclass(frozen=True)
class Search:
    """One process's part in a search, everything checked.

    Attributes:
        tuned: The project and its kind.
        settings: The resolved settings (the search's overrides applied).
        overrides: The search's ``--set`` overrides (every trial gets them).
        study: The study's name.
        url: The storage URL (with its password: passed to workers in their environment).
        shown: The storage URL without password (what is printed and tagged).
        trials: How many trials end COMPLETE or PRUNED.
        workers: Worker processes on this machine.
    """

    tuned: TunedProject
    settings: ProjectSettings
    overrides: tuple[str, ...]
    study: str
    url: str
    shown: str
    trials: int
    workers: int


def _checked(args: argparse.Namespace) -> Search:
    """Every input checked, before anything is created (one line each)."""
    from medai.tuning.project import find_project  # noqa: PLC0415 - the project's imports
    from medai.tuning.storage import check_storage, default_storage, redacted  # noqa: PLC0415

    if args.trials < 1:
        raise TuningError(f"--trials must be at least 1, got {args.trials}")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise TuningError(f"--workers must be 1 to {MAX_WORKERS}, got {args.workers}")
    if args.study is not None and not _STUDY_NAME.match(args.study):
        raise TuningError(
            f"--study must be letters, digits, '.', '_' or '-' (at most 100), got {args.study!r}"
        )
    tuned = find_project(args.project)
    settings = load_for_command(tuned.binding, args.overrides)
    if not settings.tune.space:
        raise TuningError(
            f"project {tuned.name}: tune.space is empty, nothing to search; declare it in the "
            "project's configs (docs/tuning.md) or with --set tune.space='{...}'"
        )
    url = check_storage(args.storage or default_storage(tuned.binding.repo_root))
    study = args.study or f"{tuned.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Search(
        tuned=tuned,
        settings=settings,
        overrides=tuple(args.overrides),
        study=study,
        url=url,
        shown=redacted(url),
        trials=args.trials,
        workers=args.workers,
    )


class _LostRaceError(Exception):
    """Another process created the study between our look and our create: join it."""


def _search(args: argparse.Namespace) -> None:
    search = _checked(args)

    from optuna.exceptions import DuplicatedStudyError  # noqa: PLC0415 - after the checks

    from medai.tuning.runs import delete_run, parent_run  # noqa: PLC0415
    from medai.tuning.storage import open_storage  # noqa: PLC0415
    from medai.tuning.study import SearchIdentity, check_joinable, create, load  # noqa: PLC0415

    identity = SearchIdentity(search.tuned.name, search.trials, dict(search.settings.tune.space))
    storage = open_storage(search.url, heartbeat_s=None, grace_s=None, on_stale=None)
    repo_root = search.tuned.binding.repo_root
    existing = load(storage, search.study)
    if existing is None:
        parent_id = ""
        try:
            with parent_run(
                search.settings,
                repo_root,
                study=search.study,
                storage=search.shown,
                trials=search.trials,
            ) as parent_id:
                try:
                    study = create(storage, search.study, identity, parent_id)
                except DuplicatedStudyError:
                    raise _LostRaceError from None
                _started(search, parent_id)
                best = _run_and_report(search, study, owner=True)
        except _LostRaceError:
            delete_run(search.settings, repo_root, parent_id)
            existing = load(storage, search.study)
        else:
            if args.register_best:
                _register_best(search, best)
            return
    if existing is None:  # pragma: no cover - created, then deleted by someone else
        raise TuningError(f"study {search.study!r} vanished from {search.shown} while joining")
    check_joinable(existing, identity)
    say(f"joining study {search.study} in {search.shown}: {search.workers} more worker(s) here")
    if args.register_best:
        say("--register-best is left to the process that started the study")
    _run_and_report(search, existing, owner=False)


def _started(search: Search, parent_id: str) -> None:
    say(
        f"study {search.study}: {search.trials} trials of {search.tuned.name}, "
        f"{search.workers} worker(s) here, storage {search.shown}, MLflow parent run {parent_id}"
    )
    if not search.url.startswith("sqlite"):
        say(
            f"join from another machine: python -m medai.tuning --project {search.tuned.name} "
            f"--trials {search.trials} --study {search.study} --storage '{search.shown}' "
            "(with the password) and the same --set options"
        )


def _run_and_report(search: Search, study: optuna.Study, *, owner: bool) -> BestTrial:
    """Start the workers, wait, print the outcome; the owner writes and logs the best trial."""
    from optuna.trial import TrialState  # noqa: PLC0415

    from medai.tuning.best import best_of, write_best  # noqa: PLC0415
    from medai.tuning.runs import log_best  # noqa: PLC0415
    from medai.tuning.study import trial_counts  # noqa: PLC0415

    codes = run_workers(search)
    counts = trial_counts(study)
    complete, pruned = counts[TrialState.COMPLETE], counts[TrialState.PRUNED]
    failed, left = counts[TrialState.FAIL], counts[TrialState.WAITING] + counts[TrialState.RUNNING]
    say(
        f"study {search.study}: {complete + pruned} of {search.trials} trials finished "
        f"({complete} complete, {pruned} pruned), {failed} failed"
        + (f", {left} not run" if left else "")
    )
    best = best_of(study)
    if best is not None:
        say(best.line())
        if owner:
            output = search.tuned.binding.resolve_path(search.settings.tune.output_dir)
            path = write_best(output / search.study, best.text())
            log_best(best, {"complete": complete, "pruned": pruned, "failed": failed})
            say(f"wrote {_shown_path(path, search.tuned.binding.repo_root)}")
    if complete + pruned < search.trials:
        bad = [code for code in codes if code != 0]
        why = f"{len(bad)} worker(s) here exited with status {bad[0]}" if bad else "trials failed"
        raise SearchIncompleteError(
            f"study {search.study}: only {complete + pruned} of {search.trials} trials finished "
            f"({why}; the workers' log says why); the same command with --study "
            f"{search.study} runs what is still queued"
        )
    if best is None:
        raise SearchIncompleteError(f"study {search.study}: every trial was pruned; no best trial")
    return best


def _shown_path(path: Path, repo_root: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo_root.resolve()))
    except ValueError:
        return str(path)


def worker_threads(workers: int, cores: int | None = None) -> int:
    """Each worker's share of this machine's cores (at least one)."""
    available = cores if cores is not None else len(os.sched_getaffinity(0))
    return max(1, available // workers)


def worker_command(search: Search, threads: int) -> list[str]:
    """The command line of one worker (the storage URL goes in its environment)."""
    options = [item for override in search.overrides for item in ("--set", override)]
    return [
        sys.executable,
        "-m",
        "medai.tuning.worker",
        "--project",
        search.tuned.name,
        "--study",
        search.study,
        "--threads",
        str(threads),
        *options,
    ]


def run_workers(search: Search) -> list[int]:
    """Start ``search.workers`` workers here and wait for all; their exit statuses.

    Ctrl-C (or SIGTERM) stops them too; their running trials are then failed and retried
    by any worker still working on the study.
    """
    from medai.tuning.worker import STORAGE_VARIABLE  # noqa: PLC0415

    threads = worker_threads(search.workers)
    environment = {
        **os.environ,
        STORAGE_VARIABLE: search.url,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    command = worker_command(search, threads)
    workers = [
        subprocess.Popen(command, env=environment)  # noqa: S603 - our own interpreter and module
        for _ in range(search.workers)
    ]
    try:
        return [worker.wait() for worker in workers]
    except BaseException:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
        raise


def _register_best(search: Search, best: BestTrial) -> None:
    """Train the best trial's config once more, registered as challenger, tagged with the study."""
    from medai.engine.run import RunOptions  # noqa: PLC0415 - torch and MLflow: the last step
    from medai.tuning.names import BEST_TRIAL_TAG, STUDY_TAG  # noqa: PLC0415

    overrides = [*search.overrides, *best.overrides]
    settings = search.tuned.binding.load(overrides)
    train = search.tuned.kind.resolve("train")
    say(f"training trial {best.trial}'s config ({' '.join(best.overrides)}) to register it")
    result = train(
        search.tuned.project,
        settings,
        options=RunOptions(
            run_name=f"best-of-{search.study}",
            tags={STUDY_TAG: search.study, BEST_TRIAL_TAG: str(best.trial)},
        ),
    )
    say(result.summary())
    for line in result.comparison:
        say(line)
