"""Alembic migrations on the real PostgreSQL (and SQLite): up, down, up, and no drift."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from recgen.store.db import make_engine
from recgen.store.migrate import current_revision, downgrade, upgrade
from recgen.store.models import Base

pytestmark = pytest.mark.integration


def _schema_drift(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_postgres(empty_pg_url: str) -> None:
    upgrade(empty_pg_url)
    assert {"products", "users", "interactions", "generated_assets"} <= _tables(empty_pg_url)
    downgrade(empty_pg_url, "base")
    assert _tables(empty_pg_url) == {"alembic_version"}
    assert current_revision(empty_pg_url) is None
    upgrade(empty_pg_url)
    assert current_revision(empty_pg_url) is not None
    assert _schema_drift(empty_pg_url) == []


def test_migrations_match_models_on_sqlite(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    assert _schema_drift(sqlite_url) == []
    downgrade(sqlite_url, "base")
    upgrade(sqlite_url)
    assert "products" in _tables(sqlite_url)
