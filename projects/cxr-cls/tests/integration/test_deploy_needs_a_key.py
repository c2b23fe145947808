"""cxr-cls's deploy refuses to promote while its server would have no API key.

The promotion gate's shared checks are the template's tests/integration/test_deployment.py.
"""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from cxr_cls.mlops.deployment import deploy_main

pytestmark = pytest.mark.integration
NAME = "cxr-cls"


def champion_of(client: MlflowClient) -> str | None:
    aliases = client.get_registered_model(NAME).aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def test_without_an_api_key_no_alias_moves(trained_model, capsys):
    uri = trained_model.settings.tracking.uri
    registry = MlflowClient(uri, registry_uri=uri)
    options = [word for override in trained_model.overrides for word in ("--set", override)]
    before = champion_of(registry)
    assert deploy_main(["--env", "staging", *options]) == 2
    assert "MEDAI_API_KEYS" in capsys.readouterr().err
    assert champion_of(registry) == before
