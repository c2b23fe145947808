"""Registry side of deployment: move the champion alias, record why, remember the history.

The history of champions is a JSON list in a registered-model tag, newest last, so a
rollback knows where to go without guessing from version numbers (a refused or
never-deployed version is not a previous champion).
"""

from __future__ import annotations

import getpass
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from medai.deployment.gate import Decision, GateScores
from medai.tracking.registry import CHALLENGER, CHAMPION, resolve_alias, set_alias, tag_version

HISTORY_TAG = "medai.champion_history"
"""Registered-model tag: JSON list of the versions that were champion, newest last."""


class RollbackError(RuntimeError):
    """There is no previous champion to go back to; str() is the one line to print."""


@dataclass(frozen=True)
class DeployContext:
    """Who deploys what from where, for the record on the model version."""

    environment: str
    git_commit: str
    actor: str

    def tags(self, prefix: str) -> dict[str, str]:
        """``<prefix>.environment`` etc., plus a UTC timestamp."""
        return {
            f"{prefix}.environment": self.environment,
            f"{prefix}.git_commit": self.git_commit,
            f"{prefix}.actor": self.actor,
            f"{prefix}.at": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def actor_from(environ: Mapping[str, str]) -> str:
    """The CI job (GitHub Actions, GitLab CI) when there is one, else the local user."""
    if environ.get("GITHUB_ACTIONS") == "true":
        repository = environ.get("GITHUB_REPOSITORY", "?")
        run, person = environ.get("GITHUB_RUN_ID", "?"), environ.get("GITHUB_ACTOR", "?")
        return f"github-actions:{repository} run {run} ({person})"
    if environ.get("GITLAB_CI") == "true":
        job, person = environ.get("CI_JOB_ID", "?"), environ.get("GITLAB_USER_LOGIN", "?")
        return f"gitlab-ci:job {job} ({person})"
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


def git_commit(repo_root: Path) -> str:
    """HEAD's commit (``+dirty`` when the work tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def current_champion(name: str) -> ModelVersion | None:
    """The version behind ``champion``, or None when there is none yet."""
    from medai.tracking.errors import ModelNotFoundError  # noqa: PLC0415 - cheap, local

    try:
        return resolve_alias(name, [CHAMPION])[1]
    except ModelNotFoundError:
        return None


def champion_history(name: str) -> list[str]:
    """Versions that were champion, newest last (empty for a model never deployed)."""
    try:
        model = MlflowClient().get_registered_model(name)
    except MlflowException:
        return []
    raw = (model.tags or {}).get(HISTORY_TAG, "[]")
    try:
        history = json.loads(raw)
    except ValueError:
        return []
    return [str(v) for v in history] if isinstance(history, list) else []


def _set_history(name: str, history: list[str]) -> None:
    MlflowClient().set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def promote(
    name: str,
    challenger: GateScores,
    champion: GateScores | None,
    decision: Decision,
    context: DeployContext,
) -> None:
    """Record the decision on the challenger's version, then move ``champion`` to it.

    Tags first, alias last: if the registry fails midway the alias still points at the
    old champion, and the tags say a promotion was attempted.
    """
    tag_version(
        name,
        challenger.version,
        {
            "deploy.decision": "promoted",
            "deploy.reason": decision.reason,
            "deploy.challenger_metrics": json.dumps(challenger.values(), sort_keys=True),
            "deploy.champion_version": champion.version if champion else "none",
            "deploy.champion_metrics": (
                json.dumps(champion.values(), sort_keys=True) if champion else "none"
            ),
            "deploy.data_digest": challenger.data_digest,
            **context.tags("deploy"),
        },
    )
    history = champion_history(name)
    if champion is not None and (not history or history[-1] != champion.version):
        history.append(champion.version)  # a champion set by hand before the gate existed
    set_alias(name, CHAMPION, challenger.version)
    _set_history(name, [*history, challenger.version])


def rollback(name: str, context: DeployContext) -> tuple[str, str]:
    """Point ``champion`` back at the previous champion.

    Returns:
        (the version rolled back from, the version now champion).

    Raises:
        RollbackError: no champion, or no previous champion in the history.
    """
    current = current_champion(name)
    if current is None:
        raise RollbackError(f"registered model {name!r} has no champion to roll back")
    history = champion_history(name)
    if history and history[-1] == str(current.version):
        history = history[:-1]
    if not history:
        raise RollbackError(
            f"{name} v{current.version} is the first champion: there is no previous one "
            "to roll back to"
        )
    previous = history[-1]
    # The alias is one per model, so the rollback undoes the deploy that made the current
    # champion: record that deploy's environment, not the CLI's lack of one.
    deployed_in = (current.tags or {}).get("deploy.environment")
    if deployed_in:
        context = replace(context, environment=deployed_in)
    tag_version(
        name,
        str(current.version),
        {"rollback.replaced_by": previous, **context.tags("rollback")},
    )
    set_alias(name, CHAMPION, previous)
    _set_history(name, history)
    # A version rolled back from must not come back with the next `deploy`: if it is still
    # the challenger, it stops being one (train or nominate another).
    client = MlflowClient()
    aliases = client.get_registered_model(name).aliases
    if str(aliases.get(CHALLENGER, "")) == str(current.version):
        client.delete_registered_model_alias(name, CHALLENGER)
    return str(current.version), previous
