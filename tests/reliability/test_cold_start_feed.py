"""Users without history are served one shared cold-start feed, made of persona assets.

The real app on the session's PostgreSQL and the shared Redis (a prefix and queue of its own),
with the real Celery client, so the broker's queue shows what was enqueued. Before, the
cold-start feed was stock content of the catalog's first products for ever: persona assets
already in the cache were never shown to a user without history, and nothing made them.
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
from recgen.api.schemas import FeedOut
from recgen.api.state import AppState
from recgen.core.keys import COLD_START_USER, asset_key
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.jobs.names import TASK_REFRESH_FEED
from tests.conftest import REDIS_TEST_URL
from tests.support.world import queued_tasks, stored_exposures

PERSONA = 3
SHARED_REFRESH = (TASK_REFRESH_FEED, {"user_id": COLD_START_USER})

World = tuple[TestClient, AppState, "redis.Redis[bytes]"]


@pytest.fixture()
def world(migrated_pg_url: str) -> Iterator[World]:
    seed(migrated_pg_url)
    prefix = f"rel-coldfeed-{uuid.uuid4().hex[:8]}"
    settings = api_settings(migrated_pg_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                            redis_url=REDIS_TEST_URL)
    broker: redis.Redis[bytes] = redis.Redis.from_url(settings.broker_url)
    with purged(settings.redis_url, prefix), TestClient(create_app(settings)) as client:
        try:
            yield client, client.app.state.recgen, broker  # type: ignore[attr-defined]
        finally:
            broker.delete(prefix)  # this test's queue on the shared broker
            broker.close()


def queued(state: AppState, broker: redis.Redis[bytes], at_least: int) -> list[Any]:
    """(task name, kwargs) of each message in the queue, once ``at_least`` are there (the
    feed enqueues in a thread after answering; bounded wait)."""
    queue = state.settings.celery_queue
    for _ in range(60):
        if broker.llen(queue) >= at_least:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # a message more than expected would show up now
    return queued_tasks(broker, queue)


def unknown_users(n: int) -> list[int]:
    base = 20_000_000 + uuid.uuid4().int % 1_000_000  # never seen: no feed, no history
    return list(range(base, base + n))


def feed(client: TestClient, user: int, scope: str = "recommender") -> FeedOut:
    response = client.get(f"/v1/feed/{user}?limit=5", headers=headers(scope))
    assert response.status_code == 200, response.text
    return FeedOut.model_validate_json(response.content, strict=True)


def test_unknown_users_of_any_key_queue_one_shared_refresh(world: World) -> None:
    client, state, broker = world
    for i, user in enumerate(unknown_users(30)):
        body = feed(client, user, ("recommender", "backend")[i % 2])
        # Nothing made yet: the stock fallback.
        assert body.state == "cold_start" and body.generated_at is None and body.items
    # One refresh of the shared feed, whoever asked and however many: no per-user work.
    assert queued(state, broker, at_least=1) == [SHARED_REFRESH]


def put_shared_feed(cache: RedisAssetCache, *, expired: int) -> dict[int, str]:
    """The shared feed as the refresh writes it: persona assets, one of them since expired.
    Returns the cached texts by product."""
    texts = {p.product_id: f"Persona {PERSONA} copy for {p.title}" for p in PRODUCTS[:3]}
    keys = {pid: asset_key("text", pid, model_version="v1", persona_id=PERSONA) for pid in texts}
    cache.put_many({keys[pid]: text.encode() for pid, text in texts.items() if pid != expired})
    cache.put_feed(StoredFeed(
        user_id=COLD_START_USER,
        generated_at=time.time(),
        model_versions={"text": "v1"},
        items=tuple(StoredFeedItem(pid, keys[pid], None, PERSONA) for pid in texts),
    ))
    return {pid: text for pid, text in texts.items() if pid != expired}


def test_the_shared_feed_serves_persona_assets_to_every_unknown_user(world: World) -> None:
    client, state, broker = world
    expired = PRODUCTS[2].product_id
    texts = put_shared_feed(state.cache, expired=expired)  # type: ignore[arg-type]
    users = unknown_users(2)
    feeds = [feed(client, user) for user in users]
    for user, body in zip(users, feeds, strict=True):
        assert (body.user_id, body.state, body.model_versions) == (user, "cold_start",
                                                                    {"text": "v1"})
        assert {i.product_id: i.text for i in body.items if i.content == "generated"} == texts
        assert [i.content for i in body.items if i.product_id == expired] == ["stock"]
    # Logged under each user, as shown.
    state.drainer.drain_all()
    logged = stored_exposures(state.settings.database_url,
                              [i.exposure_id for body in feeds for i in body.items])
    assert sorted(logged.values()) == sorted(
        (body.user_id, i.product_id, i.content) for body in feeds for i in body.items
    )
    # The expired asset queues the shared feed's refresh, once; nothing for either user.
    assert queued(state, broker, at_least=1) == [SHARED_REFRESH]
