"""Which run ``--resume`` continues, checked before anything is reopened or written.

``--resume=RUN_ID`` names a run; ``--resume`` (``latest``) takes the project's newest
unfinished run that has a checkpoint; ``--resume=auto`` does the same but starts a new
run when there is none (a Kubernetes pod that may be a retry). A run is resumable when
it is this project's training run, not FINISHED (RUNNING after a SIGKILL, FAILED after a
crash, KILLED after SIGTERM), not being trained by a live process (its folder's lock,
``checkpoints.run_lock``), trained with the same resolved config, and its folder holds a
whole ``resume.ckpt`` written for it. Anything else is a ``ResumeError``: one
line, before the run's status or any file changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Run, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from medai.config.loader import settings_hash
from medai.config.sections import ProjectSettings
from medai.engine.checkpoints import (
    RESUME_FILE,
    CheckpointError,
    checkpoint_folder,
    is_locked,
    read_resume_checkpoint,
    trained_epochs,
)
from medai.errors import ResumeError

LATEST = "latest"
AUTO = "auto"
_PROJECT_TAG = "medai.project"
_KIND_TAG = "medai.run_kind"
_CONFIG_TAG = "medai.config_hash"
_TRIAL_TAG = "medai.tune.trial"


@dataclass(frozen=True)
class ResumeTarget:
    """A run to continue and the checked checkpoint it continues from.

    Attributes:
        run_id: The MLflow run.
        checkpoint: Its ``resume.ckpt``.
        epoch: The epochs the checkpoint has trained.
        logged_through: The last epoch whose metrics the run logged (maybe past ``epoch``:
            epochs trained after the checkpoint and before the crash are not logged twice).
        world_size: The processes that wrote it (0: unknown).
    """

    run_id: str
    checkpoint: Path
    epoch: int
    logged_through: int
    world_size: int = 0


def _finished(run: Run) -> bool:
    return str(run.info.status) == RunStatus.to_string(RunStatus.FINISHED)


def _problem(run: Run, project: str) -> str | None:
    """Why ``run`` cannot be resumed by ``project`` (None: it can)."""
    owner = run.data.tags.get(_PROJECT_TAG, "")
    if owner != project:
        return f"it is a run of project {owner or '(unknown)'!r}, not {project!r}"
    if run.data.tags.get(_KIND_TAG, "training") != "training":
        return f"it is a {run.data.tags[_KIND_TAG]} run, not a training"
    if _TRIAL_TAG in run.data.tags:
        return "it is a trial of a search (invoke tune retries a dead worker's trials itself)"
    if _finished(run):
        return "it finished; there is nothing to resume (train again for a new run)"
    return None


def _logged_through(client: MlflowClient, run_id: str) -> int:
    history = client.get_metric_history(run_id, "train_loss")
    return max((int(m.step) for m in history), default=0)


def _checked(
    client: MlflowClient, run: Run, root: Path, settings: ProjectSettings, named: str
) -> ResumeTarget:
    run_id = run.info.run_id
    expected, found = run.data.tags.get(_CONFIG_TAG, ""), settings_hash(settings)
    if expected and expected != found:
        message = (
            f"--resume={named}: the resolved config differs from run {run_id}'s (config hash "
            f"{found[:12]} vs {expected[:12]}); resume with the same configs and --set overrides"
        )
        raise ResumeError(message)
    folder = checkpoint_folder(root, run_id)
    path = folder / RESUME_FILE
    if is_locked(folder):
        message = f"--resume={named}: run {run_id} is still training in another process"
        raise ResumeError(message)
    try:
        state = read_resume_checkpoint(path, run_id)
    except CheckpointError as exc:
        message = f"--resume={named}: {exc}"
        raise ResumeError(message) from None
    return ResumeTarget(
        run_id=run_id,
        checkpoint=path,
        epoch=trained_epochs(state),
        logged_through=_logged_through(client, run_id),
        world_size=int((state["medai"].get("sampler") or {}).get("num_replicas", 0)),
    )


def _named_run(client: MlflowClient, run_id: str, project: str) -> Run:
    try:
        run = client.get_run(run_id)
    except MlflowException:
        message = f"--resume={run_id}: no MLflow run with that id in this tracking store"
        raise ResumeError(message) from None
    problem = _problem(run, project)
    if problem is not None:
        message = f"--resume={run_id}: {problem}"
        raise ResumeError(message)
    return run


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # finished (and removed) meanwhile
        return 0.0


def _latest_unfinished(
    client: MlflowClient, root: Path, project: str, config_hash: str
) -> Run | None:
    """The newest run folder with a checkpoint whose run this config can resume."""
    checkpoints = sorted(root.glob(f"*/{RESUME_FILE}"), key=_modified, reverse=True)
    for checkpoint in checkpoints:
        try:
            run = client.get_run(checkpoint.parent.name)
        except MlflowException:
            continue  # a folder of another tracking store, or of a deleted run
        same_config = run.data.tags.get(_CONFIG_TAG, config_hash) == config_hash
        if _problem(run, project) is None and same_config and not is_locked(checkpoint.parent):
            return run  # unfinished, of this config, and no process is training it now
    return None


def resolve_resume(
    resume: str | None, settings: ProjectSettings, root: Path, project: str
) -> ResumeTarget | None:
    """The run ``resume`` asks to continue, or None for a new run.

    Args:
        resume: None (a new run), ``latest``, ``auto`` or a run id.
        settings: The resolved settings (their hash must be the run's).
        root: The project's checkpoint root (``checkpoints.checkpoint_root``).
        project: The project's name.

    Raises:
        ResumeError: Nothing to resume (``latest``), an unknown run, another project's,
            a finished one, another config, or a missing, truncated or foreign checkpoint.
    """
    if resume is None:
        return None
    client = MlflowClient()
    if resume in (LATEST, AUTO):
        run = _latest_unfinished(client, root, project, settings_hash(settings))
        if run is None:
            if resume == AUTO:
                return None
            message = (
                f"--resume: nothing to resume for {project}: no unfinished training run "
                f"of this config with a checkpoint under {root}"
            )
            raise ResumeError(message)
        return _checked(client, run, root, settings, resume)
    return _checked(client, _named_run(client, resume, project), root, settings, resume)
