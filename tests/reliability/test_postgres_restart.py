"""PostgreSQL crashes (immediate stop) and restarts under the real API.

Feeds are served from Redis and keep working; writes are refused with a retryable 503 while
it is down and succeed when it is back; the Alembic revision is intact afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from harness.world import PRODUCTS, api_settings, headers, purged, seed
from recgen.api.app import Overrides, create_app
from recgen.store.migrate import current_revision, upgrade
from tests.support.api import RecordingDispatcher
from tests.support.services import OwnPostgres
from tests.support.world import events, put_generated_feed

REDIS_BASE = "redis://127.0.0.1:6379"


@pytest.fixture()
def db_url(own_pg: OwnPostgres) -> Iterator[str]:
    url = own_pg.create_database(f"rel_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    seed(url)
    yield url


def test_feed_from_cache_survives_postgres_restart_and_writes_resume(
    own_pg: OwnPostgres, db_url: str
) -> None:
    prefix = f"rel-{uuid.uuid4().hex[:8]}"
    # The shared Redis (cache only, unique prefix): this test kills PostgreSQL, not Redis.
    settings = api_settings(db_url, REDIS_BASE, prefix, redis_url=f"{REDIS_BASE}/10")
    head = current_revision(db_url)
    products = [p.product_id for p in PRODUCTS[:4]]
    dispatcher = RecordingDispatcher()
    with purged(settings.redis_url, prefix):
        put_generated_feed(settings.redis_url, prefix, 3, products)
        app = create_app(settings, Overrides(dispatcher=dispatcher))  # type: ignore[arg-type]
        with TestClient(app, headers=headers()) as client:
            assert client.get("/v1/feed/3").json()["state"] == "ready"  # warms key + titles

            own_pg.stop("immediate")
            try:
                for _ in range(20):
                    served = client.get("/v1/feed/3")
                    assert served.status_code == 200, served.text
                    assert [i["text_source"] for i in served.json()["items"]] == ["generated"] * 4
                batch = events(3, 3, "pgdown")
                refused = client.post("/v1/events", json={"events": batch})
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"]
                assert refused.json()["error"]["code"] == "unavailable"
                ready = client.get("/health/ready")
                assert ready.status_code == 503 and not ready.json()["checks"]["database"]["ok"]
            finally:
                own_pg.start()

            started = time.monotonic()
            retried = client.post("/v1/events", json={"events": batch})
            retry_s = time.monotonic() - started
            assert retried.status_code == 202, retried.text
            assert client.get("/health/ready").status_code == 200
    # The refused attempt enqueued nothing; the retry enqueued the batch once.
    sent = dispatcher.named("events")
    assert [[e["event_id"] for e in b] for b in sent] == [[e["event_id"] for e in batch]]
    assert current_revision(db_url) == head is not None
    print(f"\npostgres restart: first write after restart took {retry_s:.2f}s")
