"""Point MLflow at the configured store: the embedded SQLite default or a server."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from medai.config.sections import TrackingSettings
from medai.tracking.errors import TrackingUnavailableError


def configure_tracking(tracking: TrackingSettings, repo_root: Path) -> str:
    """Set MLflow's tracking and registry URIs for this process and return the URI.

    With nothing configured the store is ``<repo>/mlflow.db``, resolved from the repo
    root rather than the working directory, so every task shares one store.
    """
    uri = tracking.resolved_uri(repo_root)
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def check_server(uri: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, with one line, when a tracking server does not answer.

    MLflow's client retries a refused connection with backoff for minutes before it
    gives up; a user who mistyped the URI should not wait for that.

    Raises:
        TrackingUnavailableError: naming the URI and the reason.
    """
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout_s):  # noqa: S310 - http(s) checked above
            return
    except urllib.error.HTTPError as answered:
        answered.close()  # it answered; a proxy or a server without /health is reachable
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailableError(
            f"MLflow tracking server {uri} is unreachable ({reason}); "
            "check MLFLOW_TRACKING_URI or tracking.uri"
        ) from None


def experiment_artifact_location(artifact_root: str | None, experiment: str) -> str | None:
    """One folder per experiment under the artifact root (``mlruns/<experiment>``).

    MLflow's client-side SQLite store would otherwise put artifacts under ``./mlruns``
    of whatever the working directory is.
    """
    if artifact_root is None:
        return None
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", experiment).strip("-.") or "experiment"
    return f"{artifact_root.rstrip('/')}/{folder}"


def ensure_experiment(name: str, artifact_location: str | None) -> str:
    """Return the id of experiment ``name``, creating it (with its artifact root) if needed.

    A deleted experiment of that name is restored: MLflow keeps the name reserved, and
    a user who deleted it in the UI still expects training to work.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return str(client.create_experiment(name, artifact_location=artifact_location))
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)
