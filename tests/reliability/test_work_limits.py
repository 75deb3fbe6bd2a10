"""Per-key limits of the routes that create work: events and feeds that enqueue.

The real app on the session's PostgreSQL and the shared Redis (a prefix and queue of its own),
with the real Celery client, so the broker's queue shows what was enqueued. Before these
limits a recommender key could post events and enqueue feed refreshes without bound (only
generation was limited).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from harness.world import PRODUCTS, api_settings, headers, purged, seed
from recgen.api.app import create_app
from recgen.api.state import AppState
from tests.conftest import REDIS_TEST_URL
from tests.support.feeds import user_with_history
from tests.support.world import events

EVENTS_PER_MINUTE = 50
ENQUEUES_PER_MINUTE = 3


@pytest.fixture()
def limited(migrated_pg_url: str) -> Iterator[tuple[TestClient, AppState, redis.Redis[bytes]]]:
    seed(migrated_pg_url)
    prefix = f"rel-limits-{uuid.uuid4().hex[:8]}"
    settings = api_settings(
        migrated_pg_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix, redis_url=REDIS_TEST_URL,
        api_events_per_minute=EVENTS_PER_MINUTE,
        api_feed_enqueues_per_minute=ENQUEUES_PER_MINUTE,
    )
    broker: redis.Redis[bytes] = redis.Redis.from_url(settings.broker_url)
    with purged(settings.redis_url, prefix), TestClient(create_app(settings)) as client:
        try:
            yield client, client.app.state.recgen, broker  # type: ignore[attr-defined]
        finally:
            broker.delete(prefix)  # this test's queue on the shared broker
            broker.close()


def _refused(response: Any) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 61


def test_events_are_limited_per_key_by_their_count(
    limited: tuple[TestClient, AppState, redis.Redis[bytes]],
) -> None:
    client, _, _ = limited
    user = 7_000_000 + uuid.uuid4().int % 1_000_000
    first = client.post("/v1/events", json={"events": events(user, 30, "lim")},
                        headers=headers("recommender"))
    assert first.status_code == 202, first.text
    # 30 + 30 events exceed the key's 50 a minute: the whole second batch is refused.
    _refused(client.post("/v1/events", json={"events": events(user + 1, 30, "lim")},
                         headers=headers("recommender")))
    # Another key has a budget of its own.
    other = client.post("/v1/events", json={"events": events(user + 2, 30, "lim")},
                        headers=headers("backend"))
    assert other.status_code == 202, other.text


def test_feeds_that_enqueue_are_limited_per_key(
    limited: tuple[TestClient, AppState, redis.Redis[bytes]],
) -> None:
    client, state, broker = limited
    users = [user_with_history(state, PRODUCTS[0].product_id) for _ in range(5)]
    answers = [client.get(f"/v1/feed/{u}", headers=headers("recommender")) for u in users]
    assert [a.json()["state"] for a in answers[:ENQUEUES_PER_MINUTE]] == ["refreshing"] * 3
    for refused in answers[ENQUEUES_PER_MINUTE:]:
        _refused(refused)
    # The feed enqueues in a thread after answering: wait (bounded) for the messages.
    for _ in range(50):
        if broker.llen(state.settings.celery_queue) >= ENQUEUES_PER_MINUTE:
            break
        time.sleep(0.05)
    assert broker.llen(state.settings.celery_queue) == ENQUEUES_PER_MINUTE
