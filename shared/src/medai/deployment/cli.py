"""The ``deploy`` and ``rollback`` commands every project gets from its ``mlops/deployment.py``.

Every refusal is one line and leaves the registry as it was: the environment and the
API-key secret are checked before MLflow is touched, a worse challenger moves no alias
and writes no tag. Exit status: 0 promoted (or nothing to do), 1 refused by the gate,
2 a user error (config, secret, no challenger, unreachable tracking server).

``deploy --result-file PATH`` also writes the outcome as JSON, for programs (``invoke
deploy`` reads the champion version from it instead of parsing the printed lines)::

    {"model": "ct-seg", "environment": "staging", "outcome": "promoted",
     "promoted": true, "alias": "champion", "version": "12",
     "challenger_version": "12", "reason": "first deployment: no champion yet"}

``outcome`` is ``promoted``, ``already_champion`` or ``refused``; ``version`` is the
champion after the command (``null`` when there is none). The file is written whole
(a temporary file renamed into place) once the gate has decided, and removed at the
start, so after a user error (exit 2) there is no file rather than a stale one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from medai.cli import (
    EXIT_USER_ERROR,
    Command,
    command_parser,
    load_for_command,
    run_guarded,
    say,
)
from medai.config import ConfigError, ProjectSettings
from medai.deployment.gate import GateScores
from medai.project import ProjectBinding

SettingsT = TypeVar("SettingsT", bound=ProjectSettings)
EXIT_REFUSED = 1
Outcome = Literal["promoted", "already_champion", "refused"]


@dataclass(frozen=True)
class DeployResult:
    """What a deploy decided, as ``--result-file`` writes it (the module docstring's JSON)."""

    model: str
    environment: str
    outcome: Outcome
    version: str | None
    """The champion after the command; None when there is none (a refused first deploy)."""
    challenger_version: str
    reason: str
    alias: str = "champion"

    @property
    def promoted(self) -> bool:
        """Whether this command moved the champion alias."""
        return self.outcome == "promoted"

    def write(self, path: Path) -> None:
        """Write the JSON whole: a reader never sees half a file."""
        text = json.dumps({**asdict(self), "promoted": self.promoted}, indent=2) + "\n"
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        ) as handle:
            handle.write(text)
        Path(handle.name).replace(path)


class DeployableProject(Protocol[SettingsT]):
    """What the gate needs from a project kit: its binding and a scored evaluation."""

    @property
    def binding(self) -> ProjectBinding[SettingsT]:
        """The project's settings and paths."""
        ...

    def gate_scores(self, settings: SettingsT, alias: str) -> GateScores:
        """Evaluate the version behind ``alias`` on the frozen evaluation set, tag nothing."""
        ...


class GateRefusedError(RuntimeError):
    """The gate kept the champion; str() says why."""


def _report(result: DeployResult, result_file: Path | None) -> None:
    if result_file is not None:
        result.write(result_file)


def _require_api_key_secret(environment: str) -> None:
    """A deployed server refuses to start without API keys: refuse before promoting."""
    from medai.serving.settings import (  # noqa: PLC0415 - FastAPI stack
        ServingConfigError,
        load_api_keys,
    )

    try:
        keys = load_api_keys(os.environ)
    except ServingConfigError as exc:  # an unreadable file, a key too short: the server's rules
        raise ConfigError(
            "environment", "MEDAI_API_KEYS_FILE", f"API-key secret for {environment}: {exc}"
        ) from None
    if not keys:
        raise ConfigError(
            "environment",
            "MEDAI_API_KEYS_FILE",
            f"no API-key secret for {environment}: mount the secret and set "
            "MEDAI_API_KEYS_FILE (or MEDAI_API_KEYS); the server will not start without it",
        )


def _check_environment(settings: ProjectSettings, environment: str) -> None:
    if environment not in settings.deploy.environments:
        known = ", ".join(settings.deploy.environments)
        raise ConfigError("--env", None, f"unknown environment {environment!r}; known: {known}")


def deploy(project: DeployableProject[SettingsT], args: argparse.Namespace) -> None:
    """Gate, then promote; raises GateRefusedError when the champion stays."""
    from medai.deployment.gate import decide  # noqa: PLC0415 - MLflow below
    from medai.deployment.promotion import (  # noqa: PLC0415
        DeployContext,
        actor_from,
        current_champion,
        git_commit,
        promote,
    )
    from medai.tracking.registry import CHALLENGER, CHAMPION, resolve_alias  # noqa: PLC0415
    from medai.tracking.store import configure_tracking  # noqa: PLC0415

    settings = load_for_command(project.binding, args.overrides)
    _check_environment(settings, args.env)
    _require_api_key_secret(args.env)
    configure_tracking(settings.tracking, project.binding.repo_root)
    name = settings.registered_model_name()
    _, challenger_version = resolve_alias(name, [CHALLENGER])
    champion_version = current_champion(name)
    if champion_version is not None and champion_version.version == challenger_version.version:
        version = str(challenger_version.version)
        reason = "the challenger is the champion already"
        _report(
            DeployResult(name, args.env, "already_champion", version, version, reason),
            args.result_file,
        )
        say(f"{name} v{version} is already champion; nothing to deploy")
        return
    say(f"evaluating {name} challenger v{challenger_version.version} on the evaluation set")
    challenger = project.gate_scores(settings, CHALLENGER)
    champion = None
    if champion_version is not None:
        say(f"evaluating {name} champion v{champion_version.version} on the same set")
        champion = project.gate_scores(settings, CHAMPION)
    decision = decide(challenger, champion, settings.deploy)
    if not decision.promote:
        kept = None if champion_version is None else str(champion_version.version)
        refused = DeployResult(name, args.env, "refused", kept, challenger.version, decision.reason)
        _report(refused, args.result_file)
        raise GateRefusedError(f"refused: {decision.reason}; champion unchanged")
    context = DeployContext(args.env, git_commit(project.binding.repo_root), actor_from(os.environ))
    promote(name, challenger, champion, decision, context)
    promoted = DeployResult(
        name, args.env, "promoted", challenger.version, challenger.version, decision.reason
    )
    _report(promoted, args.result_file)
    say(f"promoted {name} v{challenger.version} to champion ({args.env}): {decision.reason}")


def rollback(project: DeployableProject[SettingsT], args: argparse.Namespace) -> None:
    """Move ``champion`` back to the previous champion."""
    from medai.deployment.promotion import (  # noqa: PLC0415 - MLflow
        DeployContext,
        actor_from,
        git_commit,
    )
    from medai.deployment.promotion import rollback as move_back  # noqa: PLC0415
    from medai.tracking.store import configure_tracking  # noqa: PLC0415

    settings = load_for_command(project.binding, args.overrides)
    configure_tracking(settings.tracking, project.binding.repo_root)
    name = settings.registered_model_name()
    context = DeployContext(
        "rollback", git_commit(project.binding.repo_root), actor_from(os.environ)
    )
    replaced, restored = move_back(name, context)
    say(f"rolled back {name}: champion is v{restored} again (was v{replaced})")


def _run(body: Callable[[], None]) -> int:
    """``run_guarded`` plus the gate's and the rollback's refusals (exit 1 / 2)."""
    from medai.deployment.promotion import RollbackError  # noqa: PLC0415

    try:
        return run_guarded(body)
    except GateRefusedError as exc:
        print(str(exc), file=sys.stderr)  # noqa: T201 - the CLI's voice
        return EXIT_REFUSED
    except RollbackError as exc:
        print(f"error: {exc}; champion unchanged", file=sys.stderr)  # noqa: T201
        return EXIT_USER_ERROR


def _result_file_problem(path: Path) -> str | None:
    """Why the outcome could not be written to ``path``, or None."""
    if path.is_dir():
        return "is a folder; expected a file path"
    if not path.parent.is_dir():
        return f"folder {path.parent} does not exist"
    return None


def deployment_commands(project: DeployableProject[SettingsT]) -> tuple[Command, Command]:
    """``(deploy_main, rollback_main)`` for a project's ``mlops/deployment.py``."""

    def deploy_main(argv: Sequence[str] | None = None) -> int:
        parser = command_parser(
            f"Promote the {project.binding.name} challenger to champion if it beats it."
        )
        parser.add_argument(
            "--env", default="staging", help="deployment environment (default: staging)"
        )
        parser.add_argument(
            "--result-file",
            type=Path,
            default=None,
            metavar="PATH",
            help="also write the outcome as JSON to PATH (for programs; see medai.deployment.cli)",
        )
        args = parser.parse_args(argv)
        if args.result_file is not None:
            problem = _result_file_problem(args.result_file)
            if problem:  # before the gate: an outcome that cannot be written is not made
                parser.error(f"--result-file {args.result_file}: {problem}")
            args.result_file.unlink(missing_ok=True)  # never a stale outcome after a failure
        return _run(lambda: deploy(project, args))

    def rollback_main(argv: Sequence[str] | None = None) -> int:
        args = command_parser(f"Restore the previous {project.binding.name} champion.").parse_args(
            argv
        )
        return _run(lambda: rollback(project, args))

    return deploy_main, rollback_main
