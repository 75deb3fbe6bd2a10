from __future__ import annotations

import os
from pathlib import Path

import pytest

from recgen.core.config import (
    CONFIG_FILE_ENV,
    PROJECT_ROOT,
    ConfigError,
    get_settings,
    load_settings,
    use_config_file,
)


def test_default_config_is_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECGEN_ENV", raising=False)
    settings = load_settings()
    assert settings.cache_backend == "memory"
    assert settings.executor == "inprocess"
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'recgen.db'}"


def test_env_var_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGEN_ENV", "production")
    monkeypatch.setenv("RECGEN_REDIS_URL", "redis://cache.internal:6379/3")
    settings = load_settings()
    assert settings.env == "production"
    assert settings.redis_url == "redis://cache.internal:6379/3"
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_invalid_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGEN_TORCH_THREADS", "zero")
    with pytest.raises(ConfigError, match="torch_threads"):
        load_settings()


def test_unknown_database_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGEN_DATABASE_URL", "mysql://x@y/z")
    with pytest.raises(ConfigError, match="database_url"):
        load_settings()


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "bad.toml"
    path.parent.mkdir()
    path.write_text('cache_backnd = "redis"\n')
    with pytest.raises(ConfigError, match="cache_backnd"):
        load_settings(path)


def test_relative_paths_in_file_resolve_against_project_root(tmp_path: Path) -> None:
    path = tmp_path / "config" / "x.toml"
    path.parent.mkdir()
    path.write_text('index_dir = "var/idx"\ndatabase_url = "sqlite:///var/x.db"\n')
    settings = load_settings(path)
    assert settings.index_dir == tmp_path / "var" / "idx"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'x.db'}"


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_get_settings_is_cached_and_follows_config_override(tmp_path: Path) -> None:
    path = tmp_path / "config" / "c.toml"
    path.parent.mkdir()
    path.write_text("torch_threads = 3\n")
    try:
        use_config_file(path)
        assert get_settings() is get_settings()
        assert get_settings().torch_threads == 3
    finally:
        use_config_file(None)
        # use_config_file(None) keeps the variable (a child process inherits its parent's
        # --config through it); the test must not leak it into later tests.
        os.environ.pop(CONFIG_FILE_ENV, None)


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config" / "broken.toml"
    path.parent.mkdir()
    path.write_text("torch_threads = = 2\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config" / "c.toml"
    path.parent.mkdir()
    path.write_text('torch_threads = 3\nindex_dir = "var/idx"\n')
    monkeypatch.setenv("RECGEN_TORCH_THREADS", "5")
    monkeypatch.setenv("RECGEN_INDEX_DIR", "rel/idx")  # relative to the working directory
    settings = load_settings(path)
    assert settings.torch_threads == 5
    assert settings.index_dir == Path("rel/idx")
