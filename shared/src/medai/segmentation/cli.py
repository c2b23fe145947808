"""The train, evaluate, predict and serve commands of a segmentation project.

A project's ``cli.py`` unpacks ``project_commands`` into its console-script functions.
Each command resolves the configuration first and fails on a bad config or input with
one line and exit status 2, before paying for torch, MONAI or MLflow imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medai.cli import Commands, command_parser, kit_commands, load_for_command, run_guarded, say
from medai.segmentation.project import SegmentationProject, SettingsT


def train_command(project: SegmentationProject[SettingsT], argv: Sequence[str] | None) -> int:
    """Train, track in MLflow and register the model as ``challenger``."""
    args = command_parser(
        f"Train {project.name}, track the run in MLflow and register the model."
    ).parse_args(argv)

    def body() -> None:
        settings = load_for_command(project.binding, args.overrides)
        from medai.segmentation.training import train  # noqa: PLC0415 - after config checks

        result = train(project, settings)
        say(result.summary())
        for line in result.comparison:
            say(line)

    return run_guarded(body)


def evaluate_command(project: SegmentationProject[SettingsT], argv: Sequence[str] | None) -> int:
    """Evaluate the registered model; write and log metrics with CIs and overlays."""
    args = command_parser(
        f"Evaluate a registered {project.name} model on the validation cases.", alias=True
    ).parse_args(argv)

    def body() -> None:
        settings = load_for_command(project.binding, args.overrides)
        from medai.segmentation.evaluation import evaluate  # noqa: PLC0415

        report = evaluate(project, settings, args.alias)
        header = f"{report.model_name} version {report.model_version} (@{report.alias})"
        say(f"{header}: {len(report.rows)} case x structure rows")
        for key, estimate in report.summary.items():
            say(
                f"  {key:<22} {estimate.mean:8.3f}  "
                f"[{estimate.low:.3f}, {estimate.high:.3f}] "
                f"{estimate.confidence:.0%} CI, n={estimate.n}"
            )
        say(f"report: {report.output_dir}  mlflow run: {report.run_id}")

    return run_guarded(body)


def predict_command(project: SegmentationProject[SettingsT], argv: Sequence[str] | None) -> int:
    """Segment a NIfTI file or a DICOM series folder into a NIfTI mask."""
    parser = command_parser(
        f"Segment a {project.modality} volume with the registered {project.name} model.",
        alias=True,
    )
    parser.add_argument(
        "input",
        type=Path,
        help="a .nii / .nii.gz file or a folder holding one DICOM series; for a "
        "multi-channel model (e.g. T1, T1c, T2, FLAIR) one 4D NIfTI with the channels on "
        "its last axis, in the model's order",
    )
    parser.add_argument(
        "output", type=Path, help="mask to write (.nii.gz or .nii), with the input's affine"
    )
    args = parser.parse_args(argv)

    def body() -> None:
        settings = load_for_command(project.binding, args.overrides)
        from medai.segmentation.prediction import predict_to_file  # noqa: PLC0415

        written = predict_to_file(project, settings, args.input, args.output, args.alias)
        say(f"wrote {written}")

    return run_guarded(body)


def project_commands(project: SegmentationProject[SettingsT], app_factory: str) -> Commands:
    """The project's entry points.

    Args:
        project: The project.
        app_factory: Its server factory, ``<package>.api.main:create_app``.
    """
    return kit_commands(
        project,
        app_factory,
        train=train_command,
        evaluate=evaluate_command,
        predict=predict_command,
    )
