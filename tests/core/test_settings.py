"""Settings: defaults, TOML file, environment, precedence, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import load_settings, shown_settings


def test_embedded_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/sealgate.db"
    assert settings.blob_dir == Path("var/blobs")
    assert settings.keystore.module is None
    assert settings.port == 8000


def test_environment_beats_file_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sealgate.toml"
    config.write_text('port = 9000\nlog_level = "DEBUG"\n[keystore]\ntoken_label = "from-file"\npool_size = 2\n')
    monkeypatch.setenv("SEALGATE_KEYSTORE__POOL_SIZE", "7")
    settings = load_settings(config)
    assert settings.port == 9000
    assert settings.log_level == "DEBUG"
    assert settings.keystore.token_label == "from-file"
    assert settings.keystore.pool_size == 7


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[database]\nurl = "postgresql://u:pw@db.example/sealgate"\n')
    monkeypatch.setenv("SEALGATE_CONFIG", str(config))
    assert load_settings().database_url == "postgresql+psycopg://u:pw@db.example/sealgate"


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml")
    assert caught.value.setting == "SEALGATE_CONFIG"


@pytest.mark.parametrize(
    ("body", "variable"),
    [
        ("[keystore]\npool_size = 0\n", "SEALGATE_KEYSTORE__POOL_SIZE"),
        ("[keystore]\nmystery = 1\n", "SEALGATE_KEYSTORE__MYSTERY"),
        ('port = "eighty"\n', "SEALGATE_PORT"),
        ('log_level = "LOUD"\n', "SEALGATE_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, body: str, variable: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.setting == variable
    assert str(caught.value).startswith(variable + ": ")


def test_shown_settings_mask_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALGATE_KEYSTORE__PIN", "1234-very-secret")
    monkeypatch.setenv("SEALGATE_DATABASE__URL", "postgresql://sealgate:db-password@localhost/sealgate")
    shown = shown_settings(load_settings())
    text = repr(shown)
    assert "1234-very-secret" not in text
    assert "db-password" not in text
    assert shown["keystore"]["pin"] == "**********"
    assert shown["database"]["url"] == "postgresql+psycopg://sealgate:***@localhost/sealgate"
