"""What a segmentation project's commands do that other kinds' do not (``medai.cli``).

Evaluate prints each metric with its confidence interval; predict reads a NIfTI file or
a DICOM series folder and writes a NIfTI mask on the input's grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medai.cli import ProjectCommands, command_parser, kind_commands, run_with_settings, say
from medai.segmentation.project import SegmentationProject, SettingsT

if TYPE_CHECKING:
    from medai.engine.run import RunOptions, TrainingResult


def _train(
    project: SegmentationProject[SettingsT],
    settings: SettingsT,
    *,
    options: RunOptions | None = None,
) -> TrainingResult:
    """Train and register; torch and MONAI load only now, after the config was checked."""
    from medai.segmentation.training import train  # noqa: PLC0415 - after config checks

    return train(project, settings, options=options)


def evaluate_command(project: SegmentationProject[SettingsT], argv: Sequence[str] | None) -> int:
    """Evaluate the registered model; write and log metrics with CIs and overlays."""
    args = command_parser(
        f"Evaluate a registered {project.name} model on the validation cases.", alias=True
    ).parse_args(argv)

    def body(settings: SettingsT) -> None:
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

    return run_with_settings(project.binding, args.overrides, body)


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

    def body(settings: SettingsT) -> None:
        from medai.segmentation.prediction import predict_to_file  # noqa: PLC0415

        written = predict_to_file(project, settings, args.input, args.output, args.alias)
        say(f"wrote {written}")

    return run_with_settings(project.binding, args.overrides, body)


project_commands: ProjectCommands[SegmentationProject[Any]] = kind_commands(
    train=_train, evaluate=evaluate_command, predict=predict_command
)
"""``project_commands(project, app_factory)``: a segmentation project's entry points."""
