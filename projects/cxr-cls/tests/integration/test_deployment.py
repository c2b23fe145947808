"""cxr-cls's promotion gate, end to end on the session's trained model.

The checks every project shares (``medai.testing.PromotionGateChecks``) run on this
project's commands and its session's store (tests/conftest.py): a first deploy
promotes, a rollback of the first champion is refused. The refusal test below runs on a
copy of that store, so the version it registers never reaches the other tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cxr_cls.mlops.deployment import deploy_main, rollback_main
from cxr_cls.settings import PROJECT
from medai.testing import PromotionGateChecks, as_options, registry_client

pytestmark = pytest.mark.integration
NAME = "cxr-cls"


class TestPromotionGate(PromotionGateChecks):
    model_name = NAME
    deploy = staticmethod(deploy_main)
    rollback = staticmethod(rollback_main)


def _store_copy(session_overrides: list[str], folder: Path) -> list[str]:
    """The session's overrides, its tracking store (and reports) moved to a copy in ``folder``."""
    moved = {}
    for override in session_overrides:
        key, _, value = override.partition("=")
        if key == "tracking.uri":
            copy = folder / "mlflow.db"
            shutil.copyfile(value.removeprefix("sqlite:///"), copy)
            moved[key] = f"sqlite:///{copy}"
        elif key == "evaluate.output_dir":
            moved[key] = str(folder / "reports")
    return [o for o in session_overrides if o.partition("=")[0] not in moved] + [
        f"{key}={value}" for key, value in moved.items()
    ]


def test_a_copy_of_the_champion_does_not_beat_it_and_nothing_moves(
    trained, session_overrides, tmp_path, monkeypatch, capsys
):
    """The gate needs a real gain: the champion's own model, registered again, is refused."""
    monkeypatch.setenv("MEDAI_API_KEYS", PromotionGateChecks.api_key)
    overrides = _store_copy(session_overrides, tmp_path)
    options, result = as_options(overrides), tmp_path / "result.json"
    client = registry_client(PROJECT.binding, overrides)
    assert deploy_main([*options, "--result-file", str(result)]) == 0  # promotes, or did already
    first = json.loads(result.read_text())
    assert first["outcome"] in {"promoted", "already_champion"}
    assert first["version"] == trained.model_version
    champion = client.get_model_version_by_alias(NAME, "champion")
    card = {key: value for key, value in champion.tags.items() if key.startswith("medai.")}
    again = client.create_model_version(  # the same model and card, as a retraining would
        NAME, source=champion.source, run_id=champion.run_id, model_id=champion.model_id, tags=card
    )
    client.set_registered_model_alias(NAME, "challenger", again.version)
    capsys.readouterr()

    assert deploy_main([*options, "--result-file", str(result)]) == 1

    refused = json.loads(result.read_text())
    assert (refused["outcome"], refused["version"]) == ("refused", trained.model_version)
    assert f"challenger v{again.version} does not beat champion" in refused["reason"]
    last_line = capsys.readouterr().err.splitlines()[-1]  # after any log lines of the project
    assert last_line.startswith(f"refused: challenger v{again.version} does not")
    assert str(client.get_registered_model(NAME).aliases["champion"]) == trained.model_version
    assert "deploy.decision" not in client.get_model_version(NAME, again.version).tags
