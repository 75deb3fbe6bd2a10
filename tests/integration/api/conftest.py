"""API fixtures: the real app on the test PostgreSQL and Redis (unique key prefix per test),
with a recording dispatcher in place of Celery so tests see exactly what was enqueued."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from recgen.api.app import Overrides, create_app
from recgen.api.state import AppState
from recgen.core.config import Settings
from recgen.core.types import Product
from recgen.generation.cache import RedisAssetCache
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import ExperimentRow
from recgen.store.repos.products import upsert_products
from tests.support.api import RecordingDispatcher

ADMIN_KEY = "rg_test_admin_key"
PRODUCTS = [
    Product(
        pid,
        "Men",
        "Apparel",
        "Topwear",
        "Shirts",
        "Navy Blue",
        "Blue",
        "Fall",
        "Casual",
        f"Stock title {pid}",
    )
    for pid in (101, 102, 103, 104, 105)
]


@pytest.fixture()
def settings(migrated_pg_url: str, redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        database_url=migrated_pg_url,
        cache_backend="redis",
        redis_url=redis_url,
        cache_prefix=redis_prefix,
        executor="celery",
        broker_url=redis_url,
        api_bootstrap_key=ADMIN_KEY,  # type: ignore[arg-type]
        api_max_body_bytes=20_000,
        api_max_events_per_batch=50,
        exposure_drain_interval_seconds=3600,  # tests drain explicitly
    )


@pytest.fixture()
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture()
def api(settings: Settings, dispatcher: RecordingDispatcher) -> Iterator[TestClient]:
    engine = make_engine(settings.database_url)
    with session_scope(session_factory(engine)) as session:
        upsert_products(session, products=PRODUCTS)
    app = create_app(settings, Overrides(dispatcher=dispatcher))  # type: ignore[arg-type]
    with TestClient(app, headers={"X-API-Key": ADMIN_KEY}) as client:
        yield client
    # Experiments are global to the shared test database: leave none running.
    with session_scope(session_factory(engine)) as session:
        for row in session.query(ExperimentRow).filter(ExperimentRow.status == "running"):
            row.status = "stopped"
    engine.dispose()
    conn: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    RedisAssetCache(conn, settings.cache_prefix, ttl=60, jitter=0.0).purge()
    conn.close()


@pytest.fixture()
def state(api: TestClient) -> AppState:
    app_state: AppState = api.app.state.recgen  # type: ignore[attr-defined]
    return app_state


@pytest.fixture()
def cache(settings: Settings) -> Iterator[RedisAssetCache]:
    conn: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    yield RedisAssetCache(conn, settings.cache_prefix, ttl=600, jitter=0.0)
    conn.close()
