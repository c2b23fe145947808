"""Settings sections every project shares; a project's model extends ``ProjectSettings``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from medai.config.section import Section
from medai.config.tuning import TuneSettings, space_problems

__all__ = [
    "ApiSettings",
    "CardSettings",
    "DeploySettings",
    "DockerSettings",
    "LoggingSettings",
    "ProjectSettings",
    "Section",
    "TrackingSettings",
    "TuneSettings",
    "WorkLimits",
]


class TrackingSettings(Section):
    """Where MLflow keeps runs and models.

    ``uri: null`` means the embedded default: ``sqlite:///<repo>/mlflow.db`` with
    artifacts under ``<repo>/mlruns``. ``MLFLOW_TRACKING_URI`` overrides ``uri``.
    """

    uri: str | None = None
    artifact_location: str | None = Field(
        default=None,
        description="Artifact root for new experiments; default <repo>/mlruns when embedded.",
    )
    experiment: str | None = Field(
        default=None, description="Experiment name; default: the project name."
    )
    registered_model: str | None = Field(
        default=None, description="Registry name; default: the project name."
    )

    def resolved_uri(self, repo_root: Path) -> str:
        """The tracking URI to use, pinned to the repo root when none is configured."""
        return self.uri or f"sqlite:///{(repo_root / 'mlflow.db').resolve()}"

    def resolved_artifact_location(self, repo_root: Path) -> str | None:
        """Artifact root for new experiments; ``None`` lets a tracking server decide."""
        if self.artifact_location:
            return self.artifact_location
        if self.uri is None:
            return (repo_root / "mlruns").resolve().as_uri()
        return None


class LoggingSettings(Section):
    """Process logging. Never log pixel data or DICOM header values, whatever the level."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=False, alias="json")


class ApiSettings(Section):
    """Serving defaults, from ``api_configs/fastapi.yaml``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    model_alias: str = Field(
        default="champion", description="Registry alias served, evaluated and used to predict."
    )
    fallback_alias: str | None = Field(
        default="challenger",
        description="Used when model_alias is missing, outside production only (with a "
        "WARNING line); production falls back to nothing but champion. null: no fallback.",
    )
    max_body_mb: float = Field(default=256.0, gt=0)
    max_voxels: int = Field(default=512 * 512 * 1024, gt=0)
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="A request head must arrive within this (slowloris)."
    )
    body_idle_timeout_s: float = Field(
        default=15.0, gt=0, description="Longest wait for the next part of a request body."
    )
    body_min_bytes_per_s: int = Field(
        default=65536,
        ge=1,
        description="Slowest average rate of a body, after body_idle_timeout_s of grace.",
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, description="An idle kept-alive connection is closed after this."
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open connections per worker; more are answered 503."
    )
    backend: Literal["onnx", "torch"] = Field(
        default="onnx", description="onnx: ONNX Runtime, no torch in the server; torch: PyTorch."
    )
    model_dir: Path | None = Field(
        default=None, description="Materialized model folder to serve (set by `invoke serve`)."
    )
    models_root: Path = Field(
        default=Path("data/models"),
        description="Where `invoke serve` materializes models (relative: the project folder).",
    )
    audit_log: Path | None = Field(
        default=Path("outputs/audit/predictions.jsonl"),
        description="Hash-chained JSON-lines record of every prediction answered (medai.audit; "
        "relative: the project folder). null turns the trail off, outside production only.",
    )


class WorkLimits(Section):
    """How much work one prediction may cause, in the server, the CLI and evaluation alike.

    A few bytes of header can declare a geometry that resampling turns into gigabytes
    (8^3 voxels of 100 mm are 468^3 voxels at 1.5 mm); ``api.max_voxels`` bounds the
    input only. Every grid a prediction will produce, its sliding-window patches and
    its working memory are planned from the header and refused past these
    (``medai.inference.budget``). The defaults let two predictions run at once on a
    24 GB machine.
    """

    max_grid_voxels: int = Field(
        default=512 * 512 * 1024,
        ge=1,
        description="Largest grid (voxels, or pixels) any resampling step may produce; "
        "the logits are resampled back onto the input grid, so keep it >= api.max_voxels.",
    )
    max_memory_mb: int = Field(
        default=8192,
        ge=1,
        description="Largest estimated working memory of one prediction: the arrays it "
        "holds at once (the network's own activations are not counted).",
    )
    max_windows: int = Field(
        default=512, ge=1, description="Most sliding-window patches one prediction may run."
    )


class DockerSettings(Section):
    """Container settings (``api_configs/docker.yaml``) read by the build tasks."""

    image: str
    base_image: str = "python:3.11-slim"
    registry: str | None = None
    expose_port: int = Field(default=8000, ge=1, le=65535)


class DeploySettings(Section):
    """The promotion gate (``invoke deploy``): when a challenger may replace the champion.

    The challenger must beat the champion on the primary metric by more than
    ``min_improvement`` (absolute), and may be worse on no other gate metric by more than
    its tolerance, a fraction of the champion's value (``tolerances`` per metric name,
    else ``tolerance``).
    """

    min_improvement: float = Field(default=0.0, ge=0.0)
    tolerance: float = Field(default=0.05, ge=0.0, le=1.0)
    tolerances: dict[str, float] = Field(default_factory=dict)
    subgroup_tolerance: float | None = Field(
        default=None,
        ge=0.0,
        description="Refuse a challenger whose primary metric in any subgroup (sex, age band, "
        "site) falls below the champion's by more than this (absolute); null: not checked.",
    )
    environments: tuple[str, ...] = ("staging", "production")
    audit_log: Path = Field(
        default=Path("outputs/audit/deployments.jsonl"),
        description="Hash-chained record of every deploy and rollback decision (relative: the "
        "project folder).",
    )


class CardSettings(Section):
    """What a model card says that training cannot know (``medai.cards``): the use it is for.

    Left empty, a version still registers with a card, but ``invoke deploy`` refuses it
    and names the empty field: nobody deploys a model whose intended use is unwritten.
    """

    intended_use: str | None = Field(
        default=None, description="The clinical task, population and setting the model is for."
    )
    intended_users: str | None = Field(
        default=None, description="Who reads its output (e.g. radiologists, as a second reader)."
    )
    out_of_scope_use: tuple[str, ...] = Field(
        default=(), description="Uses it must not be put to (populations, devices, decisions)."
    )
    limitations: tuple[str, ...] = Field(
        default=(), description="Known weaknesses a reader of its output must keep in mind."
    )
    label_source: str | None = Field(
        default=None, description="Where the training labels came from (e.g. NLP of reports)."
    )


class ProjectSettings(Section):
    """Sections every project has; projects add their own (data, model, train, ...)."""

    project: str
    environment: str
    seed: int = 0
    tracking: TrackingSettings = TrackingSettings()
    logging: LoggingSettings = LoggingSettings()
    api: ApiSettings = ApiSettings()
    docker: DockerSettings
    deploy: DeploySettings = DeploySettings()
    limits: WorkLimits = WorkLimits()
    tune: TuneSettings = TuneSettings()
    card: CardSettings = CardSettings()

    @model_validator(mode="after")
    def _space_fits_the_settings(self) -> ProjectSettings:
        """Each ``tune.space`` key names a value of this project that takes its samples.

        Checked here, where the project's whole settings type is known; the error is at
        ``tune.space.<key>``, so the config error names the key and the layer that set it.
        """
        problems = list(space_problems(type(self), self))
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("value_error", "{problem}", {"problem": problem}),
                        loc=("tune", "space", key),
                        input=self.tune.space[key],
                    )
                    for key, problem in problems
                ],
            )
        return self

    def experiment_name(self) -> str:
        """MLflow experiment of this project."""
        return self.tracking.experiment or self.project

    def registered_model_name(self) -> str:
        """Registry name of this project's model."""
        return self.tracking.registered_model or self.project
