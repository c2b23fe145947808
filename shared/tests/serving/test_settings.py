import logging

import pytest
from pydantic import SecretStr, ValidationError

from medai.config.sections import ApiSettings
from medai.serving import ServingConfigError, ServingSettings, check_startup, load_api_keys
from medai.serving.settings import is_loopback

GOOD = "good-key-0123456789abcdef"
GOOD2 = "second-key-0123456789abcdef"
SHORT = "shortSecretKey1"  # 15 characters


def secrets(keys):
    return [key.get_secret_value() for key in keys]


def test_keys_from_the_variable_are_split_stripped_and_empties_dropped():
    keys = load_api_keys({"MEDAI_API_KEYS": f" {GOOD} ,, {GOOD2},  ,"})
    assert secrets(keys) == [GOOD, GOOD2]
    assert all(isinstance(key, SecretStr) for key in keys)
    assert GOOD not in repr(keys)


def test_no_variables_means_no_keys():
    assert load_api_keys({}) == ()
    assert load_api_keys({"MEDAI_API_KEYS": " , ", "MEDAI_API_KEYS_FILE": ""}) == ()


def test_keys_from_a_file_skip_comments_and_blank_lines(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2025-01\n\n  {GOOD}  \n# {SHORT}\n{GOOD2}\n", encoding="utf-8")
    assert secrets(load_api_keys({"MEDAI_API_KEYS_FILE": str(key_file)})) == [GOOD, GOOD2]


def test_keys_from_the_variable_and_the_file_are_merged_without_repeats(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"{GOOD}\n{GOOD2}\n", encoding="utf-8")
    environ = {"MEDAI_API_KEYS": GOOD, "MEDAI_API_KEYS_FILE": str(key_file)}
    assert secrets(load_api_keys(environ)) == [GOOD, GOOD2]


def test_an_unreadable_key_file_names_the_variable_and_the_path(tmp_path):
    missing = tmp_path / "no-such-file"
    with pytest.raises(ServingConfigError) as caught:
        load_api_keys({"MEDAI_API_KEYS_FILE": str(missing)})
    message = str(caught.value)
    assert message.startswith(f"MEDAI_API_KEYS_FILE={missing}: cannot read the key file")
    assert "\n" not in message


def test_a_folder_as_key_file_is_an_error(tmp_path):
    with pytest.raises(ServingConfigError, match="MEDAI_API_KEYS_FILE="):
        load_api_keys({"MEDAI_API_KEYS_FILE": str(tmp_path)})


def test_a_short_key_is_refused_without_printing_it():
    with pytest.raises(ServingConfigError) as caught:
        load_api_keys({"MEDAI_API_KEYS": f"{GOOD},{SHORT}"})
    message = str(caught.value)
    assert "MEDAI_API_KEYS: key 2" in message
    assert "shorter than 16 characters" in message
    assert SHORT not in message


def test_a_short_key_in_a_file_is_refused_naming_the_line_not_the_key(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# comment\n{GOOD}\n{SHORT}\n", encoding="utf-8")
    with pytest.raises(ServingConfigError) as caught:
        load_api_keys({"MEDAI_API_KEYS_FILE": str(key_file)})
    assert "line 3" in str(caught.value)
    assert SHORT not in str(caught.value)


def test_the_placeholder_key_is_refused():
    with pytest.raises(ServingConfigError) as caught:
        load_api_keys({"MEDAI_API_KEYS": "changethis"})
    assert str(caught.value).startswith(
        "MEDAI_API_KEYS: key 1: the API key contains the placeholder 'changethis'"
    )


def test_a_long_key_built_on_the_placeholder_is_refused_without_printing_it():
    key = "CHANGETHIS-please-0123456789"
    with pytest.raises(ServingConfigError, match="placeholder") as caught:
        load_api_keys({"MEDAI_API_KEYS": key})
    assert key not in str(caught.value)


def test_settings_built_directly_refuse_a_short_key_without_printing_it():
    with pytest.raises(ValidationError) as caught:
        ServingSettings(api_keys=(SHORT,))
    assert "shorter than 16 characters" in str(caught.value)
    assert SHORT not in str(caught.value)


def test_max_body_bytes_converts_megabytes():
    assert ServingSettings(max_body_mb=1.5).max_body_bytes == 1_572_864


def test_production_without_keys_refuses_to_start():
    with pytest.raises(ServingConfigError) as caught:
        check_startup(ServingSettings(environment="production"))
    assert str(caught.value) == (
        "refusing to start: production needs at least one API key"
        " (MEDAI_API_KEYS or MEDAI_API_KEYS_FILE)"
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "inference.example.org"])  # noqa: S104
def test_a_reachable_host_without_keys_refuses_to_start_in_any_environment(host):
    with pytest.raises(ServingConfigError, match="refusing to start: no API key and host"):
        check_startup(ServingSettings(host=host, environment="development"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_development_on_loopback_without_keys_warns_loudly(host):
    warnings = check_startup(ServingSettings(host=host))
    assert len(warnings) == 1
    assert warnings[0].startswith("NO API KEY:")
    assert "only reachable from this machine" in warnings[0]


def test_keys_allow_any_host_and_production():
    settings = ServingSettings(host="0.0.0.0", environment="production", api_keys=(GOOD,))  # noqa: S104
    assert check_startup(settings) == []


@pytest.mark.parametrize(("host", "expected"), [("127.8.9.10", True), ("192.168.0.1", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_create_app_refuses_unsafe_settings(make_app):
    with pytest.raises(ServingConfigError, match="production"):
        make_app(environment="production")


def test_create_app_logs_the_no_key_warning(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="medai.serving"):
        make_app()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(r.getMessage().startswith("NO API KEY") for r in warnings)


def test_the_api_section_carries_the_slow_client_limits_to_the_server():
    api = ApiSettings(
        header_timeout_s=2.5,
        body_idle_timeout_s=4.0,
        body_min_bytes_per_s=1000,
        keep_alive_s=1.5,
        max_connections=12,
    )
    served = ServingSettings.from_api(api, environment="development")
    assert (
        served.header_timeout_s,
        served.body_idle_timeout_s,
        served.body_min_bytes_per_s,
        served.keep_alive_s,
        served.max_connections,
    ) == (2.5, 4.0, 1000, 1.5, 12)


@pytest.mark.parametrize(
    "field", ["header_timeout_s", "body_idle_timeout_s", "keep_alive_s", "max_connections"]
)
def test_a_timeout_or_cap_of_zero_is_refused(field):
    with pytest.raises(ValidationError, match=field):
        ServingSettings.model_validate({field: 0})
