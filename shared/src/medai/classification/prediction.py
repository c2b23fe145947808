"""Classify one radiograph file into a JSON file, with Grad-CAM PNGs beside it on request.

The JSON has the schema of the server's answer (``ClassificationResult``), without the
base64 heatmaps: those are written as ``<output stem>.<label>.png`` next to the JSON.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medai.classification.preprocessing import check_radiograph
from medai.classification.project import ClassificationProject, SettingsT
from medai.classification.serving.response import (
    HeatmapChoiceError,
    classification_result,
    file_stem_of,
    heatmap_labels,
    positive_findings,
    render_heatmaps,
)
from medai.config import ConfigError
from medai.inference.budget import WorkLimitError
from medai.io import MedicalImageError, read_radiograph

OUTPUT_SUFFIX = ".json"


@dataclass(frozen=True)
class PredictionFiles:
    """What ``predict_to_file`` wrote, and what it found."""

    json_path: Path
    heatmaps: tuple[Path, ...]
    positive_findings: tuple[str, ...]
    model_name: str
    model_version: str


def check_output_path(output: Path) -> None:
    """Refuse an output that is not a JSON file name before any work is done.

    Raises:
        MedicalImageError: wrong suffix, or the path is a folder.
    """
    if output.suffix.lower() != OUTPUT_SUFFIX:
        raise MedicalImageError(output, f"output must end in {OUTPUT_SUFFIX}")
    if output.is_dir():
        raise MedicalImageError(output, "output is a directory; give a file name")


def heatmap_path(output: Path, label: str) -> Path:
    """``result.json`` and ``Pleural Effusion`` -> ``result.pleural_effusion.png``."""
    return output.with_name(f"{output.stem}.{file_stem_of(label)}.png")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: never a half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    except OSError as exc:
        raise MedicalImageError(path, f"cannot be written ({exc.strerror})") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temporary).replace(path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def predict_to_file(
    project: ClassificationProject[SettingsT],
    settings: SettingsT,
    source: Path,
    output: Path,
    *,
    heatmaps: Sequence[str] = (),
    alias: str | None = None,
) -> PredictionFiles:
    """Classify ``source`` with the registered model; write the JSON (and heatmap PNGs).

    The image is read and checked, and the output name too, before MLflow and torch are
    imported, so a bad file fails in a second.

    Args:
        project: The project.
        settings: Its settings (registry, accepted radiographs).
        source: A PNG, JPEG or DICOM radiograph.
        output: The JSON file to write.
        heatmaps: Labels to draw, ``positive`` or ``all`` (none by default).
        alias: Registry alias (see medai.tracking.model_choice).

    Raises:
        MedicalImageError: the input cannot be used, or the output not written;
            ``WorkLimitError`` (naming ``source``) when classifying it would exceed
            ``settings.limits``.
        ConfigError: a heatmap choice names no label of the model, or the model needs
            the project's image step and the project has none.
    """
    check_output_path(output)
    radiograph = read_radiograph(source, limits=settings.radiograph.limits())
    from medai.classification.registry import load_registered_model  # noqa: PLC0415

    model = load_registered_model(project.binding, settings, alias)
    try:
        check_radiograph(
            radiograph.pixels,
            model.preprocessing.image_size,
            len(model.labels),
            settings.limits,
        )
    except WorkLimitError as exc:
        raise exc.for_path(source) from None
    result = model.classifier(project.image_step_for(model.preprocessing)).predict(
        radiograph.pixels
    )
    positives = positive_findings(result.probabilities, model.thresholds)
    try:
        wanted = heatmap_labels(heatmaps, model.labels, positives)
    except HeatmapChoiceError as exc:
        raise ConfigError("--heatmap", None, str(exc)) from None
    body = classification_result(
        model_name=model.name,
        model_version=model.version,
        output=result,
        thresholds=model.thresholds,
        radiograph=radiograph,
    )
    written = []
    for label, png in render_heatmaps(radiograph, result, model.labels, wanted).items():
        path = heatmap_path(output, label)
        _write_atomically(path, png)
        written.append(path)
    _write_atomically(output, (body.model_dump_json(indent=2) + "\n").encode())
    return PredictionFiles(
        output, tuple(written), tuple(body.positive_findings), model.name, model.version
    )
