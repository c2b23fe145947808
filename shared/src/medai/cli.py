"""What every project's command-line entry points share: parsing, errors, training, serving.

A command resolves its configuration first and fails on a bad config or input with one
line and exit status 2, before paying for torch, MONAI or MLflow imports. The ``train``
and ``serve`` commands are the same for every kind (``kind_commands``); a kind's own
``cli`` module keeps only its training run and what its evaluate and predict print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

from medai.config import ConfigError, ProjectSettings
from medai.data import DatasetError
from medai.errors import NetworkContractError, ResumeError, TrainingPreempted, find_cause
from medai.io import MedicalImageError
from medai.logs import configure_logging
from medai.paths import RepoLayoutError
from medai.project import KitProject, ProjectBinding
from medai.tracking.errors import ModelNotFoundError, TrackingUnavailableError

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
ProjectT = TypeVar("ProjectT", bound=KitProject[Any, Any])
ProjectT_contra = TypeVar("ProjectT_contra", bound=KitProject[Any, Any], contravariant=True)

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    DatasetError,
    MedicalImageError,
    ModelNotFoundError,
    NetworkContractError,
    RepoLayoutError,
    ResumeError,
    TrackingUnavailableError,
)
"""Errors caused by the user's config, data or registry state: one line, no traceback."""
EXIT_USER_ERROR = 2
EXIT_PREEMPTED = 143
"""128 + SIGTERM: the training was stopped by SIGTERM after writing its checkpoint."""


class Command(Protocol):
    """A console-script entry point: ``sys.argv[1:]`` when ``argv`` is None; the exit status."""

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        """Run the command."""
        ...


class Commands(NamedTuple):
    """A project's four entry points, in the order a ``cli.py`` unpacks them."""

    train: Command
    evaluate: Command
    predict: Command
    serve: Command


KitCommand = Callable[[ProjectT, Sequence[str] | None], int]
"""A kit's command body: the project and the command-line arguments; the exit status."""


class TrainingOutcome(Protocol):
    """What a kit's training returns (``medai.engine.run.TrainingResult``), as printed."""

    @property
    def comparison(self) -> Sequence[str]:
        """Lines comparing the new version with the challenger and champion it competes with."""
        ...

    def summary(self) -> str:
        """The one-line report: version, ranking score, epoch, time and run."""
        ...


class TrainRun(Protocol[ProjectT_contra]):
    """A kind's training: ``train(project, settings, *, options=RunOptions(...))``.

    It imports torch and MLflow itself, so the command has checked the config by then;
    ``options`` is a ``medai.engine.run.RunOptions`` (resume, nesting, registration).
    """

    def __call__(
        self,
        project: ProjectT_contra,
        settings: Any,  # noqa: ANN401 - the kind's settings type
        *,
        options: Any = None,  # noqa: ANN401 - RunOptions (imports MLflow)
    ) -> TrainingOutcome:
        """Train, track and register; the outcome."""
        ...


ProjectCommands = Callable[[ProjectT, str], Commands]
"""A kind's ``project_commands(project, app_factory)``, as the registry of kinds names it."""


def kind_commands(
    *,
    train: TrainRun[ProjectT],
    evaluate: KitCommand[ProjectT],
    predict: KitCommand[ProjectT],
) -> ProjectCommands[ProjectT]:
    """A kind's ``project_commands``: its training, evaluate and predict, and ``serve``.

    The train command is the same for every kind (resolve the config, train, print the
    summary and comparison lines), so a kind gives only its training; evaluate and
    predict print what differs between kinds, so a kind gives those commands whole.

    Args:
        train: The kind's training run.
        evaluate: The kind's evaluate command.
        predict: The kind's predict command.

    Returns:
        ``project_commands(project, app_factory)``, which binds the four entry points to
        one project; ``app_factory`` is its server factory, ``<package>.api.main:create_app``.
    """

    def project_commands(project: ProjectT, app_factory: str) -> Commands:
        def train_main(argv: Sequence[str] | None = None) -> int:
            return _train_command(project, train, argv)

        def evaluate_main(argv: Sequence[str] | None = None) -> int:
            return evaluate(project, argv)

        def predict_main(argv: Sequence[str] | None = None) -> int:
            return predict(project, argv)

        def serve(argv: Sequence[str] | None = None) -> int:
            return serve_main(project.binding, app_factory, argv)

        return Commands(train_main, evaluate_main, predict_main, serve)

    return project_commands


def _train_command(project: ProjectT, train: TrainRun[ProjectT], argv: Sequence[str] | None) -> int:
    """Train, track in MLflow and register the model as ``challenger``; print the outcome."""
    parser = command_parser(
        f"Train {project.name}, track the run in MLflow and register the model."
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="RUN_ID",
        help="continue a killed or failed run from its last checkpoint, in the same MLflow "
        "run: the project's latest unfinished one, RUN_ID, or 'auto' (the latest if any, "
        "else a new run)",
    )
    args = parser.parse_args(argv)

    def body(settings: ProjectSettings) -> None:
        from medai.engine.run import RunOptions, check_resume  # noqa: PLC0415 - MLflow, torch

        # A run that cannot be resumed is refused before any data is read.
        check_resume(args.resume, settings, project.binding.repo_root, project.name)
        result = train(project, settings, options=RunOptions(resume=args.resume))
        for line in (result.summary(), *result.comparison):
            if line:
                say(line)

    try:
        return run_with_settings(project.binding, args.overrides, body)
    except TrainingPreempted as stopped:
        _report(str(stopped), None)
        return EXIT_PREEMPTED


def command_parser(description: str, *, alias: bool = False) -> argparse.ArgumentParser:
    """A parser with the ``--set KEY=VALUE`` overrides (and ``--alias``) every command takes."""
    parser = argparse.ArgumentParser(description=description)
    if alias:
        parser.add_argument(
            "--alias",
            default=None,
            help="registry alias (default: api.model_alias, champion; outside production "
            "the challenger when there is none, with a warning)",
        )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=2 (repeatable; values parse as JSON)",
    )
    return parser


def load_for_command(binding: ProjectBinding[SettingsT], overrides: Sequence[str]) -> SettingsT:
    """Resolve the config (fast, before heavy imports) and set up logging from it."""
    settings = binding.load(overrides)
    configure_logging(settings.logging)
    return settings


def say(line: str) -> None:
    """Print one result line for the user (stdout, flushed: it may precede an exec)."""
    print(line, flush=True)  # noqa: T201 - the CLI's voice


def run_guarded(body: Callable[[], None]) -> int:
    """Run ``body``; print a user error as one line (and a hint line) instead of a traceback.

    The ``error:`` line is the only report of the failure: ``invoke`` tasks add none of
    their own after exit status 2. An error with a ``hint`` attribute (e.g. a
    ``ConfigError`` naming the file to edit or the ``--set`` to use) gets a second line,
    ``hint: ...``.

    Returns:
        0 on success, 2 on a user error (config, data, registry, unreachable server).
    """
    try:
        body()
    except Exception as exc:
        # MONAI wraps errors raised inside transforms; show the user's error, not the wrapper.
        user_error = find_cause(exc, USER_ERRORS)
        if user_error is not None:
            _report(str(user_error), getattr(user_error, "hint", None))
            return EXIT_USER_ERROR
        if type(exc).__module__.startswith("mlflow"):
            _report(str(exc), None, what="MLflow: ")  # e.g. an unreachable server
            return EXIT_USER_ERROR
        raise
    return 0


def run_with_settings(
    binding: ProjectBinding[SettingsT],
    overrides: Sequence[str],
    body: Callable[[SettingsT], None],
) -> int:
    """Resolve the config (``load_for_command``), then run ``body`` on it, as ``run_guarded``.

    The body imports torch, MONAI or MLflow itself: a bad config has failed by then.
    """
    return run_guarded(lambda: body(load_for_command(binding, overrides)))


def _report(message: str, hint: object, *, what: str = "") -> None:
    """``error: <what><first line>`` and, when there is one, ``hint: <hint>``, on stderr.

    Under torchrun only rank 0 speaks: every rank meets the same error, the user reads it once.
    """
    if os.environ.get("RANK", "0") != "0":
        return
    lines = [line.strip() for line in message.splitlines() if line.strip()] or [message]
    print(f"error: {what}{lines[0]}", file=sys.stderr)  # noqa: T201 - the CLI's voice
    if isinstance(hint, str) and hint:
        print(f"hint: {hint}", file=sys.stderr)  # noqa: T201


def _refuse_unsafe_serving(settings: ProjectSettings) -> None:
    """Check keys and host before materializing, so a refusal costs a second, not a download."""
    from medai.serving.settings import (  # noqa: PLC0415 - FastAPI stack, serve only
        ServingConfigError,
        ServingSettings,
        check_startup,
        load_api_keys,
    )

    try:
        keys = load_api_keys(os.environ)
        check_startup(
            ServingSettings.from_api(settings.api, environment=settings.environment, api_keys=keys)
        )
    except ServingConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_USER_ERROR) from None


def _version_number(text: str) -> int:
    """``--version``: a registry version number (1, 2, ...)."""
    if not text.isdigit() or int(text) < 1:
        msg = f"expected a version number (1, 2, ...), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def serve_main(
    binding: ProjectBinding[SettingsT], app_factory: str, argv: Sequence[str] | None = None
) -> int:
    """Materialize the registered model and replace this process with the server on it.

    Which version is served follows ``medai.tracking.model_choice``: production serves
    only the champion (or what ``--alias``/``--version`` names) and refuses otherwise
    with one line; elsewhere a fallback to the challenger prints a WARNING line.

    Args:
        binding: The project.
        app_factory: ``package.api.main:create_app``, started by uvicorn ``--factory``.
        argv: Command-line arguments (``sys.argv[1:]`` when None).
    """
    parser = command_parser(
        f"Serve the registered {binding.name} model over HTTP (FastAPI).", alias=True
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: api.port)")
    parser.add_argument(
        "--backend", choices=["onnx", "torch"], default=None, help="default: api.backend (onnx)"
    )
    parser.add_argument(
        "--version",
        type=_version_number,
        default=None,
        help="serve this registered version (a rollback, a pinned release) instead of an alias",
    )
    parser.add_argument(
        "--materialize-only",
        action="store_true",
        help="resolve the alias and write the model folder, then exit (an init-container step)",
    )
    args = parser.parse_args(argv)
    if args.alias and args.version is not None:
        parser.error("--alias and --version both name the model: give one")
    overrides = list(args.overrides)
    if args.alias:
        # As config, so the server process (given the overrides) knows the alias was named.
        overrides += [f"api.model_alias={json.dumps(args.alias)}", "api.fallback_alias=null"]
    if args.port is not None:
        overrides.append(f"api.port={args.port}")
    if args.backend is not None:
        overrides.append(f"api.backend={args.backend}")

    def body(settings: SettingsT) -> None:
        from medai.serving.launch import (  # noqa: PLC0415 - MLflow: after config checks
            exec_server,
            materialize_model,
            server_plan,
        )

        api = settings.api
        _refuse_unsafe_serving(settings)
        model_dir = materialize_model(
            settings,
            binding.repo_root,
            binding.resolve_path(api.models_root),
            version=args.version,
        )
        say(f"model folder: {model_dir}")
        if args.materialize_only:
            return
        plan = server_plan(app_factory, settings, model_dir, overrides=overrides)
        say(f"serving on http://{api.host}:{api.port} ({api.backend} backend)")
        exec_server(plan)

    return run_with_settings(binding, overrides, body)
