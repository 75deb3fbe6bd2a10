"""Celery beat's periodic task through a real worker process: ``recgen.refresh_stale_feeds`` sent
by name with beat's own schedule options (what ``recgen beat`` sends each interval), on the
Redis broker and on RabbitMQ, over users whose feeds are missing, old or fresh. The light
engine generates (the fan-out is under test, not the models)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recgen.generation.cache import StoredFeed
from recgen.jobs.names import TASK_REFRESH_STALE_FEEDS
from recgen.runtime.celery_config import celery_config
from tests.support.worker_world import (
    AMQP_TEST_URL,
    TASK_TIMEOUT_S,
    WorkerWorld,
    require_rabbitmq,
    worker_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = list(range(1, 8))
FRESH = (2, 5)  # feeds written just now: skipped
OLD = (3,)  # a feed older than feed_max_age_s: stale, like the users without a feed
CHUNK_SIZE, MAX_CHUNKS = 2, 2
# Stale users in id order (1, 3, 4, 6, 7), capped at MAX_CHUNKS x CHUNK_SIZE per tick.
REFRESHED = (1, 3, 4, 6)
NEXT_TICK = (7,)


@pytest.fixture(params=["redis", "amqp"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerWorld]:
    env = {
        "RECGEN_REFRESH_CHUNK_SIZE": str(CHUNK_SIZE),
        "RECGEN_REFRESH_MAX_CHUNKS": str(MAX_CHUNKS),
        "RECGEN_BEAT_REFRESH_INTERVAL_S": "120",  # the tick's lock lives this long
    }
    if request.param == "amqp":
        require_rabbitmq()
        env["RECGEN_BROKER_URL"] = AMQP_TEST_URL
    with worker_world(tmp_path, users=USERS, env=env) as built:
        yield built


def test_beat_tick_fans_stale_users_out_in_chunks(world: WorkerWorld) -> None:
    now = time.time()
    old = now - world.settings.feed_max_age_s - 3600
    world.cache.put_feeds(
        [StoredFeed(user_id=u, generated_at=now, model_versions={"text": "old"}) for u in FRESH]
        + [StoredFeed(user_id=u, generated_at=old, model_versions={"text": "old"}) for u in OLD]
    )
    entry = celery_config(world.settings)["beat_schedule"]["refresh-stale-feeds"]
    assert entry["task"] == TASK_REFRESH_STALE_FEEDS
    with world.worker("beat.log"):
        # Two ticks back to back, as from two beats started by mistake: only one fans out.
        # No queue given: beat sends to the default queue of the shared configuration. Ticks
        # keep no result unless the message asks for one, as these do.
        ticks = [
            world.client.send_task(entry["task"], **entry["options"], ignore_result=False).id
            for _ in range(2)
        ]
        (state, tick), (again_state, again) = [world.wait(t) for t in ticks]
        assert state == again_state == "SUCCESS", (tick, again)
        assert "skipped" in again
        assert tick["stale"] == len(REFRESHED) and tick["chunks"] == MAX_CHUNKS
        assert len(tick["tasks"]) == MAX_CHUNKS
        # Chunks keep no result: they are followed by the feeds they write.
        _wait_for_feeds(world, REFRESHED, newer_than=now)

    for user in REFRESHED:
        feed = world.cache.get_feed(user)
        assert feed is not None and feed.generated_at > now, user
        assert len(feed.items) == world.settings.feed_size
        keys = [k for item in feed.items for k in (item.text_key, item.image_key) if k]
        assert keys and world.cache.missing(keys) == []
    for user in FRESH:  # untouched
        feed = world.cache.get_feed(user)
        assert feed is not None and feed.generated_at == now and not feed.items
    for user in NEXT_TICK:
        assert world.cache.get_feed(user) is None
    assert {row.user_id for row in world.audit()} == set(REFRESHED)


def _wait_for_feeds(world: WorkerWorld, users: tuple[int, ...], *, newer_than: float) -> None:
    deadline = time.monotonic() + TASK_TIMEOUT_S
    while True:
        feeds = {user: world.cache.get_feed(user) for user in users}
        stale = [u for u, feed in feeds.items() if feed is None or feed.generated_at <= newer_than]
        if not stale:
            return
        assert time.monotonic() < deadline, f"feeds of users {stale} not refreshed"
        time.sleep(0.2)
