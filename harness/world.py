"""The small world a served API runs on in the tests and the soak: 40 synthetic products, one
API key per scope, the settings and ``RECGEN_*`` environment of an API (and worker) on one
shared Redis, a seeded database of a run's own, and cleaning up the run's Redis keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr
from sqlalchemy import select

from harness.catalog import make_products
from harness.database import scratch_database
from recgen.core.config import Settings
from recgen.core.types import Product
from recgen.generation.cache import RedisAssetCache
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import InteractionRow
from recgen.store.repos.api_keys import create_api_key, find_api_key, hash_key
from recgen.store.repos.products import upsert_products

PRODUCTS: list[Product] = make_products(40)  # ids 1000..1039
KEYS = {
    "admin": "rg_rel_admin_" + uuid.uuid4().hex,
    "backend": "rg_rel_backend_" + uuid.uuid4().hex,
    "recommender": "rg_rel_recommender_" + uuid.uuid4().hex,
}


def api_settings(database_url: str, redis_base: str, prefix: str, **extra: Any) -> Settings:
    """API settings on one Redis (cache db 0, broker db 1, results db 2 of ``redis_base``)."""
    fields: dict[str, Any] = {
        "database_url": database_url,
        "cache_backend": "redis",
        "redis_url": f"{redis_base}/0",
        "broker_url": f"{redis_base}/1",
        "result_backend": f"{redis_base}/2",
        "executor": "celery",
        "cache_prefix": prefix,
        "celery_queue": prefix,
        "exposure_drain_interval_seconds": 0.5,
    }
    return Settings(**{**fields, **extra})


def settings_env(settings: Settings) -> dict[str, str]:
    """The fields given to ``settings`` as the RECGEN_* variables that make a served API (or a
    worker) build the same settings: ``api_settings(...)`` for ``recgen serve``."""
    env = {}
    for name in sorted(settings.model_fields_set):
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bool):
            value = str(value).lower()
        if not isinstance(value, str | int | float | Path):
            raise TypeError(f"{name}: no environment form for {type(value).__name__}")
        env[f"RECGEN_{name.upper()}"] = str(value)
    return env


def seed(database_url: str) -> None:
    """Products and one key per scope (idempotent per database: keys are created once)."""
    engine = make_engine(database_url)
    with session_scope(session_factory(engine)) as session:
        upsert_products(session, products=PRODUCTS)
        for scope, key in KEYS.items():
            if find_api_key(session, key_hash=hash_key(key)) is None:
                create_api_key(session, name=f"rel-{scope}-{key[-6:]}", scopes=[scope], key=key)
    engine.dispose()


def headers(scope: str = "admin") -> dict[str, str]:
    return {"X-API-Key": KEYS[scope]}


@contextmanager
def purged(redis_url: str, prefix: str) -> Iterator[None]:
    """Remove this test's keys from a shared Redis afterwards (never FLUSHDB)."""
    try:
        yield
    finally:
        client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
        RedisAssetCache(client, prefix, 60, 0.0).purge()
        client.close()


def stored_event_ids(database_url: str, event_ids: Sequence[str]) -> set[str]:
    engine = make_engine(database_url)
    found: set[str | None] = set()
    ids = list(event_ids)
    with session_scope(session_factory(engine)) as session:
        # In chunks: one bound parameter per id, and PostgreSQL takes at most 65535 a query.
        for start in range(0, len(ids), 10_000):
            found.update(session.scalars(select(InteractionRow.event_id).where(
                InteractionRow.event_id.in_(ids[start:start + 10_000]))))
    engine.dispose()
    return {e for e in found if e is not None}


@contextmanager
def seeded_database(admin_url: str) -> Iterator[str]:
    """A migrated database of its own on the shared server, seeded with ``PRODUCTS`` and
    ``KEYS`` (dropped afterwards): for the soak, and for tests that create experiments or keys
    the other suites must not see."""
    with scratch_database(admin_url, tag="rel") as url:
        upgrade(url)
        seed(url)
        yield url
