from pathlib import Path

from medai.config.sections import ProjectSettings
from medai.serving.launch import HTTP_PROTOCOL, server_plan


def settings(**api):
    return ProjectSettings.model_validate(
        {"project": "demo", "environment": "development", "docker": {"image": "demo"}, "api": api}
    )


def test_the_server_runs_on_the_guarded_h11_protocol(tmp_path: Path):
    argv = server_plan("demo.api.main:create_app", settings(), tmp_path, environ={}).argv
    assert argv[argv.index("--http") + 1] == HTTP_PROTOCOL


def test_the_slow_client_limits_reach_the_server_through_the_api_settings(tmp_path: Path):
    plan = server_plan(
        "demo.api.main:create_app",
        settings(),
        tmp_path,
        overrides=["api.header_timeout_s=3", "api.max_connections=50"],
        environ={},
    )
    assert plan.env["MEDAI__API__HEADER_TIMEOUT_S"] == "3"
    assert plan.env["MEDAI__API__MAX_CONNECTIONS"] == "50"
