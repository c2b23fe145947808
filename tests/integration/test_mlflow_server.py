"""The MLflow server mode for real: the users' commands against ``mlflow server`` on PostgreSQL.

A throwaway PostgreSQL cluster and an ``mlflow server`` with proxied artifacts
(``tools.services``) stand in for docker/docker-compose.yml's stack; nothing is mocked.
Every step runs ``python -m invoke ...`` from the repo root, as a user does, with
``MLFLOW_TRACKING_URI`` pointing at the server and ``MEDAI__*`` variables shrinking
cxr-cls's development run and steering its data and reports into the test's folder.

The round trip: train v1 -> first deploy -> rollback refused -> train v2 -> deploy
promotes v2 -> a worse challenger is refused -> rollback restores v1; the registry is
read back through the server and the rows are checked in PostgreSQL itself. Each bad
deploy (no challenger, worse challenger, no API-key secret, unreachable server) must stop
with one line and leave the registry as it was.

Without PostgreSQL's binaries (Debian package ``postgresql``) the module is skipped, or
fails when ``CI`` is set: CI must prove the server mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from mlflow.tracking import MlflowClient
from tools.services import (
    PostgresUnavailableError,
    find_postgres_bin,
    free_port,
    mlflow_server,
    postgres_server,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "cxr-cls"
MODEL = "cxr-cls"
API_KEY = "mlflow-server-test-key-" + "k" * 24
CLI_TIMEOUT_S = 600
UNREACHABLE_WITHIN_S = 60.0
"""MLflow's own client retries a refused connection for minutes; the CLI must not."""

TINY_RUN = {
    "DATA__SYNTHETIC__N_PATIENTS": "60",
    "DATA__SYNTHETIC__SIZE": "64",
    "DATA__SYNTHETIC__DICOM_FRACTION": "0.2",
    "DATA__VALIDATION_FRACTION": "0.3",
    "PREPROCESSING__IMAGE_SIZE": "64",
    "MODEL__INIT_FEATURES": "8",
    "MODEL__GROWTH_RATE": "8",
    "MODEL__BLOCK_CONFIG": "[2, 2]",
    "TRAIN__BATCH_SIZE": "16",
    "TRAIN__TORCH_THREADS": "1",
    "TRAIN__READ_THREADS": "2",
    "EVALUATE__BOOTSTRAP_RESAMPLES": "100",
    "EVALUATE__CAM_CASES": "1",
}
"""cxr-cls's development run shrunk to seconds of compute: 123 images of 64 px, a tiny DenseNet."""
UNSET_TINY_RUN: dict[str, str | None] = {f"MEDAI__{key}": None for key in TINY_RUN}
WEAK = ("train.epochs=1", "train.learning_rate=0.00001")
"""v1: one epoch at a learning rate that leaves the network as initialised (macro AUROC ~0.5)."""
TRAINED = ("train.epochs=20", "train.learning_rate=0.003")
"""v2: long enough to learn the synthetic findings (macro AUROC ~0.7 on the same set)."""


@dataclass(frozen=True)
class Stack:
    """The running services and what the commands need to reach them."""

    uri: str
    dsn: str
    artifacts: Path
    root: Path

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL and an MLflow server on it, once for the module; both stopped at its end."""
    try:
        find_postgres_bin()
    except PostgresUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the MLflow server mode: {exc}")
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("mlflow-server")
    with (
        postgres_server(root / "postgres") as database,
        mlflow_server(database.url, root / "artifacts", root / "mlflow-server.log") as uri,
    ):
        yield Stack(uri=uri, dsn=database.dsn, artifacts=root / "artifacts", root=root)


def environment(stack: Stack, **changes: str | None) -> dict[str, str]:
    """The shell a user would have: tracking URI, API key, the tiny run; no stray MEDAI/MLflow.

    ``changes`` set (or with None, remove) variables on top.
    """
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("MEDAI", "MLFLOW_"))
    }
    env |= {f"MEDAI__{key}": value for key, value in TINY_RUN.items()}
    env |= {
        "MEDAI_ENV": "development",
        "MEDAI_API_KEYS": API_KEY,
        "MLFLOW_TRACKING_URI": stack.uri,
        "MEDAI__DATA__ROOT": str(stack.root / "data"),
        "MEDAI__EVALUATE__OUTPUT_DIR": str(stack.root / "evaluation"),
        # Each command imports torch, MONAI and MLflow afresh; bytecode cached across the
        # module's commands (outside the repo and the venv) saves ~10 s per command.
        "PYTHONPYCACHEPREFIX": str(stack.root / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def invoke(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m invoke ARGS`` from the repo root, as the user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env or environment(stack),
        capture_output=True,
        text=True,
        check=False,
        timeout=CLI_TIMEOUT_S,
    )


def options(*overrides: str) -> list[str]:
    return [f"--set={override}" for override in overrides]


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """The command's output, for a failed assertion."""
    return (
        f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n"
        f"--- stderr ---\n{result.stderr}"
    )


def stopped_with(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The one line a refused command printed, after checking it stopped with ``code``.

    The project's command says why in one line (a ``hint:`` line may follow); invoke
    adds none. Nothing else may follow, and no traceback may precede them.
    """
    assert result.returncode == code, explain(result)
    assert "Traceback" not in result.stderr, explain(result)
    lines = result.stderr.splitlines()
    reasons = [line for line in lines if line.startswith(("error:", "refused:"))]
    assert len(reasons) == 1, explain(result)
    (reason,) = reasons
    tail = lines[-2:] if lines[-1].startswith("hint:") else lines[-1:]
    assert tail[0] == reason, explain(result)
    return reason


def registry_state(client: MlflowClient) -> dict[str, Any]:
    """Every registered model's aliases and tags and every version's tags: what must not move."""
    state: dict[str, Any] = {}
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name='{model.name}'")
        state[model.name] = {
            "aliases": dict(model.aliases),
            "tags": dict(model.tags),
            "versions": {v.version: dict(v.tags) for v in versions},
        }
    return state


def champion(client: MlflowClient) -> str:
    return str(client.get_registered_model(MODEL).aliases["champion"])


def history(client: MlflowClient) -> list[str]:
    return list(json.loads(client.get_registered_model(MODEL).tags["medai.champion_history"]))


def rows(stack: Stack, query: str) -> list[tuple[Any, ...]]:
    """Rows of a query against the server's PostgreSQL database itself."""
    with closing(psycopg2.connect(stack.dsn)) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return list(cursor.fetchall())


def no_challenger_yet(stack: Stack, client: MlflowClient) -> None:
    """Nothing trained: a deploy is refused, and trying registers nothing."""
    reason = stopped_with(invoke(stack, "deploy", f"--project={PROJECT}"), 2)
    assert reason == (
        f"error: registered model {MODEL!r} has no version with alias challenger; train one first"
    )
    assert registry_state(client) == {}


def first_deployment(stack: Stack, client: MlflowClient) -> dict[str, str]:
    """v1, deployed first: promoted without a comparison and recorded as such; its tags."""
    trained = invoke(stack, "train", f"--project={PROJECT}", *options(*WEAK))
    assert trained.returncode == 0, explain(trained)
    assert f"registered {MODEL} version 1 as challenger" in trained.stdout
    deployed = invoke(stack, "deploy", f"--project={PROJECT}", "--env=staging")
    assert deployed.returncode == 0, explain(deployed)
    assert f"promoted {MODEL} v1 to champion (staging): first deployment" in deployed.stdout
    tags = dict(client.get_model_version(MODEL, "1").tags)
    assert tags["deploy.decision"] == "promoted"
    assert tags["deploy.champion_version"] == "none"
    assert tags["deploy.environment"] == "staging"
    assert champion(client) == "1"
    assert history(client) == ["1"]
    return tags


def first_champion_not_rolled_back(stack: Stack, client: MlflowClient) -> None:
    """The first champion has nothing to roll back to: refused, registry as it was."""
    before = registry_state(client)
    reason = stopped_with(invoke(stack, "rollback", f"--project={PROJECT}"), 2)
    assert reason == (
        f"error: {MODEL} v1 is the first champion: there is no previous one to roll back to; "
        "champion unchanged"
    )
    assert registry_state(client) == before


def better_challenger_promoted(
    stack: Stack, client: MlflowClient, first: dict[str, str]
) -> tuple[float, float]:
    """v2 learns and the gate promotes it; (v2's, v1's) macro AUROC as the gate recorded them.

    Its secondary tolerances are opened: after seconds of training v2 ranks better overall
    (macro AUROC ~0.7 vs ~0.5), but v1's per-finding AUROCs are noise around 0.5 and one
    may beat v2's by chance. The gate's rules have their own unit tests; here the round
    trip is under test.
    """
    trained = invoke(stack, "train", f"--project={PROJECT}", *options(*TRAINED))
    assert trained.returncode == 0, explain(trained)
    assert client.get_registered_model(MODEL).aliases == {"champion": "1", "challenger": "2"}
    deployed = invoke(
        stack, "deploy", f"--project={PROJECT}", "--env=staging", *options("deploy.tolerance=1.0")
    )
    assert deployed.returncode == 0, explain(deployed)
    promoted = f"promoted {MODEL} v2 to champion (staging): challenger v2 beats champion v1"
    assert promoted in deployed.stdout
    assert champion(client) == "2"
    assert history(client) == ["1", "2"]
    tags = client.get_model_version(MODEL, "2").tags
    assert tags["deploy.decision"] == "promoted"
    assert tags["deploy.champion_version"] == "1"
    assert tags["deploy.environment"] == "staging"
    assert tags["deploy.reason"].startswith("challenger v2 beats champion v1 on auroc_macro")
    assert tags["deploy.data_digest"] == first["deploy.data_digest"]  # the same frozen set
    champion_metrics = json.loads(tags["deploy.champion_metrics"])
    assert champion_metrics == json.loads(first["deploy.challenger_metrics"])
    new = json.loads(tags["deploy.challenger_metrics"])["auroc_macro"]
    old = champion_metrics["auroc_macro"]
    assert new > old
    return new, old


def worse_challenger_refused(stack: Stack, client: MlflowClient, new: float, old: float) -> None:
    """v1 nominated again is worse than champion v2: refused on the primary metric."""
    client.set_registered_model_alias(MODEL, "challenger", "1")
    before = registry_state(client)
    reason = stopped_with(invoke(stack, "deploy", f"--project={PROJECT}"), 1)
    assert reason.startswith(
        f"refused: challenger v1 does not beat champion v2 on auroc_macro: {old:.4f} vs {new:.4f}"
    )
    assert reason.endswith("; champion unchanged")
    assert registry_state(client) == before


def rolled_back_to_v1(stack: Stack, client: MlflowClient) -> None:
    """Rollback restores the previous champion and records it on the version it replaced."""
    rolled = invoke(stack, "rollback", f"--project={PROJECT}")
    assert rolled.returncode == 0, explain(rolled)
    assert f"rolled back {MODEL}: champion is v1 again (was v2)" in rolled.stdout
    assert champion(client) == "1"
    assert history(client) == ["1"]
    tags = client.get_model_version(MODEL, "2").tags
    assert tags["rollback.replaced_by"] == "1"
    assert tags["rollback.environment"] == "staging"  # where v2 had been deployed


def stored_in_postgresql(stack: Stack) -> None:
    """The registry the commands used is the PostgreSQL database, not a file store."""
    assert rows(stack, "SELECT name FROM registered_models") == [(MODEL,)]
    assert rows(stack, "SELECT version FROM model_versions ORDER BY version") == [(1,), (2,)]
    champion_rows = "SELECT version FROM registered_model_aliases WHERE alias = 'champion'"
    assert rows(stack, champion_rows) == [(1,)]
    decisions = (
        "SELECT version, value FROM model_version_tags "
        "WHERE key = 'deploy.decision' ORDER BY version"
    )
    assert rows(stack, decisions) == [(1, "promoted"), (2, "promoted")]


def test_train_deploy_gate_and_rollback_round_trip_on_postgresql(stack):
    client = stack.client()

    no_challenger_yet(stack, client)
    first = first_deployment(stack, client)
    first_champion_not_rolled_back(stack, client)
    new, old = better_challenger_promoted(stack, client, first)
    worse_challenger_refused(stack, client, new, old)
    rolled_back_to_v1(stack, client)

    stored_in_postgresql(stack)
    # The models went through the server's artifact proxy into its folder.
    assert len(list(stack.artifacts.rglob("MLmodel"))) >= 2
    # The registry report reads the same server (without the cxr-cls-only MEDAI__ settings,
    # which ct-seg's settings would refuse).
    report = invoke(stack, "report", env=environment(stack, **UNSET_TINY_RUN))
    assert report.returncode == 0, explain(report)
    table = [line.split()[:4] for line in report.stdout.splitlines()]
    assert [PROJECT, MODEL, "champion", "1"] in table


def test_a_deploy_without_the_api_key_secret_stops_before_the_registry(stack):
    client = stack.client()
    before = registry_state(client)

    result = invoke(
        stack, "deploy", f"--project={PROJECT}", env=environment(stack, MEDAI_API_KEYS=None)
    )

    reason = stopped_with(result, 2)
    assert "no API-key secret for staging" in reason
    assert "MEDAI_API_KEYS_FILE" in reason
    assert result.stderr.splitlines() == [reason]
    assert registry_state(client) == before


def test_a_deploy_against_an_unreachable_server_stops_in_seconds(stack):
    client = stack.client()
    before = registry_state(client)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    start = time.monotonic()
    result = invoke(
        stack, "deploy", f"--project={PROJECT}", env=environment(stack, MLFLOW_TRACKING_URI=nowhere)
    )
    elapsed = time.monotonic() - start

    reason = stopped_with(result, 2)
    assert reason.startswith(f"error: MLflow tracking server {nowhere} is unreachable")
    assert result.stderr.splitlines() == [reason]
    assert elapsed < UNREACHABLE_WITHIN_S
    assert registry_state(client) == before
