"""Command-line entry points of ct-seg (``scripts/*.py`` and the ``ct-seg-*`` commands).

Each one resolves the configuration first and fails on a bad config or input with one
line and exit status 2, before paying for torch, MONAI or MLflow imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ct_seg import settings as config
from medai.config import ConfigError
from medai.data import DatasetError
from medai.errors import find_cause
from medai.io import MedicalImageError
from medai.logs import configure_logging
from medai.paths import RepoLayoutError
from medai.tracking.errors import ModelNotFoundError, TrackingUnavailableError

USER_ERRORS = (
    ConfigError,
    DatasetError,
    MedicalImageError,
    ModelNotFoundError,
    RepoLayoutError,
    TrackingUnavailableError,
)
EXIT_USER_ERROR = 2


def _parser(description: str, *, alias: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    if alias:
        parser.add_argument(
            "--alias", default=None, help="registry alias (default: champion, else challenger)"
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


def _settings(args: argparse.Namespace) -> config.CtSegSettings:
    """Resolve the config (fast, before heavy imports) and set up logging from it."""
    settings = config.load(args.overrides)
    configure_logging(settings.logging)
    return settings


def _guarded(body: Callable[[], None]) -> int:
    """Run ``body``; print a user error as one line instead of a traceback."""
    try:
        body()
    except Exception as exc:
        # MONAI wraps errors raised inside transforms; show the user's error, not the wrapper.
        user_error = find_cause(exc, USER_ERRORS)
        if user_error is not None:
            print(f"error: {user_error}", file=sys.stderr)  # noqa: T201 - the CLI's voice
            return EXIT_USER_ERROR
        if type(exc).__module__.startswith("mlflow"):
            print(f"error: MLflow: {exc}", file=sys.stderr)  # noqa: T201 - e.g. unreachable server
            return EXIT_USER_ERROR
        raise
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    """Train, track in MLflow and register the model as ``challenger``."""
    parser = _parser("Train ct-seg, track the run in MLflow and register the model.")
    args = parser.parse_args(argv)

    def body() -> None:
        settings = _settings(args)
        from ct_seg.training import train  # noqa: PLC0415 - heavy imports after config checks

        result = train(settings)
        print(  # noqa: T201
            f"registered {result.model_name} version {result.model_version} as challenger: "
            f"best validation Dice {result.best_val_dice:.3f} (epoch {result.best_epoch}), "
            f"{result.seconds:.0f} s, run {result.run_id}"
        )

    return _guarded(body)


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """Evaluate the registered model; write and log metrics with CIs and overlays."""
    args = _parser(
        "Evaluate a registered ct-seg model on the validation cases.", alias=True
    ).parse_args(argv)

    def body() -> None:
        settings = _settings(args)
        from ct_seg.evaluation import evaluate  # noqa: PLC0415

        report = evaluate(settings, args.alias)
        header = f"{report.model_name} version {report.model_version} (@{report.alias})"
        print(f"{header}: {len(report.rows)} case x structure rows")  # noqa: T201
        for key, estimate in report.summary.items():
            print(  # noqa: T201
                f"  {key:<22} {estimate.mean:8.3f}  "
                f"[{estimate.low:.3f}, {estimate.high:.3f}] "
                f"{estimate.confidence:.0%} CI, n={estimate.n}"
            )
        print(f"report: {report.output_dir}  mlflow run: {report.run_id}")  # noqa: T201

    return _guarded(body)


def predict_main(argv: Sequence[str] | None = None) -> int:
    """Segment a NIfTI file or a DICOM series folder into a NIfTI mask."""
    parser = _parser("Segment a CT volume with the registered ct-seg model.", alias=True)
    parser.add_argument(
        "input", type=Path, help="a .nii / .nii.gz file or a folder holding one DICOM series"
    )
    parser.add_argument(
        "output", type=Path, help="mask to write (.nii.gz or .nii), with the input's affine"
    )
    args = parser.parse_args(argv)

    def body() -> None:
        settings = _settings(args)
        from ct_seg.prediction import predict_to_file  # noqa: PLC0415

        written = predict_to_file(settings, args.input, args.output, args.alias)
        print(f"wrote {written}")  # noqa: T201

    return _guarded(body)


def _refuse_unsafe_serving(settings: config.CtSegSettings) -> None:
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


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Materialize the registered model and start the inference server on it."""
    parser = _parser("Serve the registered ct-seg model over HTTP (FastAPI).", alias=True)
    parser.add_argument("--port", type=int, default=None, help="port (default: api.port)")
    parser.add_argument(
        "--backend", choices=["onnx", "torch"], default=None, help="default: api.backend (onnx)"
    )
    parser.add_argument(
        "--materialize-only",
        action="store_true",
        help="resolve the alias and write the model folder, then exit (an init-container step)",
    )
    args = parser.parse_args(argv)
    overrides = list(args.overrides)
    if args.port is not None:
        overrides.append(f"api.port={args.port}")
    if args.backend is not None:
        overrides.append(f"api.backend={args.backend}")

    def body() -> None:
        settings = config.load(overrides)
        configure_logging(settings.logging)
        from medai.serving.launch import exec_server, materialize_model, server_plan  # noqa: PLC0415

        api = settings.api
        _refuse_unsafe_serving(settings)
        aliases = [args.alias] if args.alias else [api.model_alias, api.fallback_alias]
        model_dir = materialize_model(
            settings,
            config.repo_root(),
            config.resolve_path(api.models_root),
            [a for a in aliases if a],
        )
        print(f"model folder: {model_dir}", flush=True)  # noqa: T201
        if args.materialize_only:
            return
        plan = server_plan("ct_seg.api.main:create_app", settings, model_dir, overrides=overrides)
        print(f"serving on http://{api.host}:{api.port} ({api.backend} backend)", flush=True)  # noqa: T201
        exec_server(plan)

    return _guarded(body)
