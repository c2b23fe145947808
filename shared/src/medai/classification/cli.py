"""What a classification project's commands do that other kinds' do not (``medai.cli``).

Training reads the labelled images before torch loads; evaluate prints AUROC, sensitivity
and specificity per label; predict writes a JSON file and Grad-CAM heatmaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.training_inputs import read_training_inputs
from medai.cli import ProjectCommands, command_parser, kind_commands, run_with_settings, say

if TYPE_CHECKING:
    from medai.engine.run import RunOptions, TrainingResult


def _train(
    project: ClassificationProject[SettingsT],
    settings: SettingsT,
    *,
    options: RunOptions | None = None,
) -> TrainingResult:
    """Read the training images, then train and register (torch loads only after the data)."""
    inputs = read_training_inputs(project, settings)  # bad data fails before torch loads
    from medai.classification.training_run import train  # noqa: PLC0415 - after the data

    return train(project, settings, inputs, options=options)


def evaluate_command(project: ClassificationProject[SettingsT], argv: Sequence[str] | None) -> int:
    """Evaluate the registered model; write and log AUROC with CIs, calibration and CAMs."""
    args = command_parser(
        f"Evaluate a registered {project.name} model (test split if the dataset has one, "
        "else validation).",
        alias=True,
    ).parse_args(argv)

    def body(settings: SettingsT) -> None:
        from medai.classification.evaluation import evaluate  # noqa: PLC0415

        done = evaluate(project, settings, args.alias)
        report = done.report
        say(
            f"{done.model_name} version {done.model_version} (@{done.alias}) on "
            f"{report.n_images} {done.split} images"
        )
        macro = report.macro_auroc
        say(
            f"  {'macro AUROC':<18} {macro.mean:.3f} [{macro.low:.3f}, {macro.high:.3f}] "
            f"{macro.confidence:.0%} CI"
        )
        for label in report.labels:
            auroc, sens, spec = (
                report.auroc[label],
                report.sensitivity[label],
                report.specificity[label],
            )
            say(
                f"  {label:<18} AUROC {auroc.mean:.3f} [{auroc.low:.3f}, {auroc.high:.3f}]  "
                f"sensitivity {sens.mean:.2f} [{sens.low:.2f}, {sens.high:.2f}]  "
                f"specificity {spec.mean:.2f} [{spec.low:.2f}, {spec.high:.2f}]  "
                f"at {report.thresholds[label]:.2f}  (n+ {report.positives[label]})"
            )
        say(f"report: {done.output_dir}  mlflow run: {done.run_id}")

    return run_with_settings(project.binding, args.overrides, body)


def predict_command(project: ClassificationProject[SettingsT], argv: Sequence[str] | None) -> int:
    """Classify one radiograph into a JSON file (and heatmap PNGs beside it)."""
    parser = command_parser(
        f"Classify a {project.modality} with the registered {project.name} model.", alias=True
    )
    parser.add_argument("input", type=Path, help="a PNG, JPEG or DICOM radiograph")
    parser.add_argument("output", type=Path, help="the JSON file to write")
    parser.add_argument(
        "--heatmap",
        action="append",
        default=[],
        metavar="LABEL",
        help="also write the Grad-CAM overlay of LABEL (or 'positive', 'all') as "
        "<output stem>.<label>.png (repeatable)",
    )
    args = parser.parse_args(argv)

    def body(settings: SettingsT) -> None:
        from medai.classification.prediction import predict_to_file  # noqa: PLC0415

        written = predict_to_file(
            project, settings, args.input, args.output, heatmaps=args.heatmap, alias=args.alias
        )
        found = ", ".join(written.positive_findings) or "none"
        say(
            f"wrote {written.json_path} ({written.model_name} version {written.model_version}; "
            f"positive findings: {found})"
        )
        for path in written.heatmaps:
            say(f"wrote {path}")

    return run_with_settings(project.binding, args.overrides, body)


project_commands: ProjectCommands[ClassificationProject[Any]] = kind_commands(
    train=_train, evaluate=evaluate_command, predict=predict_command
)
"""``project_commands(project, app_factory)``: a classification project's entry points."""
