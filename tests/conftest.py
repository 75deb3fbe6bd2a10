"""Shared fixtures. Integration fixtures use the real PostgreSQL and Redis on this machine:
a fresh database per test session (dropped afterwards) and a unique Redis key prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.database import scratch_database
from recgen.core.config import get_settings

PG_ADMIN_URL = os.environ.get(
    "RECGEN_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("RECGEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/10")
DATA_DIR = Path(
    os.environ.get("RECGEN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Tests change RECGEN_* variables; never let a cached Settings leak between tests."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test session."""
    with scratch_database(PG_ADMIN_URL, tag="test") as url:
        yield url


@pytest.fixture()
def empty_pg_url() -> Iterator[str]:
    """A fresh database for one test (for tests that migrate up and down)."""
    with scratch_database(PG_ADMIN_URL, tag="test") as url:
        yield url


@pytest.fixture(scope="session")
def migrated_pg_url(pg_url: str) -> str:
    from recgen.store.migrate import upgrade

    upgrade(pg_url)
    return pg_url


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'recgen.db'}"


@pytest.fixture()
def redis_url() -> str:
    return REDIS_TEST_URL


@pytest.fixture()
def redis_prefix() -> str:
    """A key prefix unique to one test, so concurrent test runs never collide."""
    return f"recgen-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "myntra" / "styles.csv").is_file():
        pytest.skip(f"catalog data not found under {DATA_DIR} (set RECGEN_DATA_DIR)")
    return DATA_DIR
