"""A small catalog, API keys and cached feeds shared by the reliability tests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from recgen.core.config import Settings
from recgen.core.types import Product
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import ExposureRow, InteractionRow
from recgen.store.repos.api_keys import create_api_key
from recgen.store.repos.products import upsert_products
from tests.support.catalog import make_products

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


def worker_env(
    database_url: str, index_dir: Path, prefix: str, **extra: str
) -> dict[str, str]:
    """Environment of a test's worker process: its own database, indexes, cache prefix and
    queue, one torch thread; ``extra`` adds or overrides ``RECGEN_*`` variables."""
    return {
        "RECGEN_ENV": "test",
        "RECGEN_DATABASE_URL": database_url,
        "RECGEN_INDEX_DIR": str(index_dir),
        "RECGEN_CACHE_PREFIX": prefix,
        "RECGEN_CELERY_QUEUE": prefix,
        "RECGEN_TORCH_THREADS": "1",
        **extra,
    }


def seed(database_url: str) -> None:
    """Products and one key per scope (idempotent per database: keys are created once)."""
    engine = make_engine(database_url)
    with session_scope(session_factory(engine)) as session:
        upsert_products(session, products=PRODUCTS)
        from recgen.store.repos.api_keys import find_api_key, hash_key

        for scope, key in KEYS.items():
            if find_api_key(session, key_hash=hash_key(key)) is None:
                create_api_key(session, name=f"rel-{scope}-{key[-6:]}", scopes=[scope], key=key)
    engine.dispose()


def headers(scope: str = "admin") -> dict[str, str]:
    return {"X-API-Key": KEYS[scope]}


def put_generated_feed(redis_url: str, prefix: str, user_id: int, products: Sequence[int]) -> None:
    """A feed whose items all have a generated text in the cache (as a worker writes it)."""
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    cache = RedisAssetCache(client, prefix, 600, 0.0)
    items = []
    for pid in products:
        key = f"asset:text:{pid}:u{user_id}:test"
        cache.put_many({key: f"generated text for {pid}".encode()})
        items.append(StoredFeedItem(product_id=pid, text_key=key, image_key=None))
    import time

    cache.put_feed(StoredFeed(user_id=user_id, generated_at=time.time(),
                              model_versions={"text": "t"}, items=tuple(items)))
    client.close()


def queued_tasks(broker: redis.Redis[bytes], queue: str) -> list[tuple[str, Any]]:
    """(task name, kwargs) of each message waiting in a Redis broker's ``queue``."""
    messages = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1])
            for m in messages]


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


def stored_exposures(database_url: str, ids: Sequence[str]) -> dict[str, tuple[int, int, str]]:
    """(user, product, content) of each stored exposure among ``ids``."""
    engine = make_engine(database_url)
    with session_scope(session_factory(engine)) as session:
        rows = session.execute(
            select(ExposureRow.id, ExposureRow.user_id, ExposureRow.product_id,
                   ExposureRow.content).where(ExposureRow.id.in_(list(ids)))
        ).all()
    engine.dispose()
    return {row.id: (row.user_id, row.product_id, row.content) for row in rows}


def count_interactions(database_url: str) -> int:
    engine = make_engine(database_url)
    with session_scope(session_factory(engine)) as session:
        count = int(session.scalar(select(func.count()).select_from(InteractionRow)) or 0)
    engine.dispose()
    return count


def events(user_id: int, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{tag}-{uuid.uuid4().hex[:12]}", "user_id": user_id,
         "product_id": PRODUCTS[i % len(PRODUCTS)].product_id, "kind": "click"}
        for i in range(count)
    ]


@contextmanager
def purged(redis_url: str, prefix: str) -> Iterator[None]:
    """Remove this test's keys from a shared Redis afterwards (never FLUSHDB)."""
    try:
        yield
    finally:
        client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
        RedisAssetCache(client, prefix, 60, 0.0).purge()
        client.close()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A migrated, seeded database of its own on the shared server (dropped afterwards), for
    tests that create experiments or keys the other suites must not see."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from recgen.store.migrate import upgrade

    name = f"recgen_rel_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        seed(url)
        yield url
    finally:
        _engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@lru_cache(maxsize=8)
def _engine(database_url: str) -> Engine:
    return make_engine(database_url)


def row_counts(database_url: str) -> dict[str, int]:
    """Rows per table that a request could write (one query; run per fuzz case)."""
    from sqlalchemy import text

    engine = _engine(database_url)
    tables = ("users", "interactions", "experiments", "assignments", "exposures", "api_keys",
              "generated_assets")
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    with engine.connect() as conn:
        return {str(name): int(count) for name, count in conn.execute(text(query))}
