"""`recgen serve` (two uvicorn workers, uvloop + httptools) driven by the sync and async clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.served import served_api
from recgen.client import ApiClientError, AsyncClient, Client, Event
from recgen.core.keys import asset_key
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.products import upsert_products
from tests.integration.api.conftest import ADMIN_KEY, PRODUCTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BROKER = "redis://127.0.0.1:6379/11"


@pytest.fixture()
def server(
    migrated_pg_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    with session_scope(session_factory(make_engine(migrated_pg_url))) as session:
        upsert_products(session, products=PRODUCTS)
    env = {
        "RECGEN_ENV": "test",
        "RECGEN_DATABASE_URL": migrated_pg_url,
        "RECGEN_REDIS_URL": redis_url,
        "RECGEN_CACHE_BACKEND": "redis",
        "RECGEN_CACHE_PREFIX": redis_prefix,
        "RECGEN_EXECUTOR": "celery",
        "RECGEN_BROKER_URL": BROKER,
        "RECGEN_CELERY_QUEUE": f"{redis_prefix}-queue",
        "RECGEN_API_BOOTSTRAP_KEY": ADMIN_KEY,
        "RECGEN_EXPOSURE_DRAIN_INTERVAL_SECONDS": "0.2",
        "RECGEN_EXPERIMENT_REFRESH_SECONDS": "0.2",
    }
    log = tmp_path / "server.log"
    try:
        with served_api(env, workers=2, log_path=log) as api:
            yield api.url
    finally:
        broker: redis.Redis[bytes] = redis.Redis.from_url(BROKER)
        broker.delete(f"{redis_prefix}-queue")
        broker.close()
    # A clean shutdown drains and closes without a traceback in either worker.
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]


def test_clients_against_a_served_api(server: str, redis_url: str, redis_prefix: str) -> None:
    conn: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    cache = RedisAssetCache(conn, redis_prefix, ttl=600, jitter=0.0)
    text_key = asset_key("text", 101, model_version="v1", persona_id=1)
    cache.put_many({text_key: b"Generated words."})
    with Client(server, api_key=ADMIN_KEY) as api:
        assert api.ready()["status"] == "ready"
        experiment = api.create_experiment(f"served-{redis_prefix}")
        assert api.start_experiment(experiment.id).status == "running"
        arm = api.assignment(experiment.id, 42).arm
        assert arm in ("generated", "stock")
        time.sleep(0.5)  # the other worker learns of the start within its refresh interval
        item = StoredFeedItem(101, text_key, None, 1)
        cache.put_feed(StoredFeed(42, time.time(), {"text": "v1"}, (item,)))
        first = api.generate(42, [101, 102], idempotency_key="served-1")
        assert api.generate(42, [101, 102], idempotency_key="served-1") == first
        assert api.task(first.task_id).state == "PENDING"  # no worker consumes this queue
        with pytest.raises(ApiClientError) as refused:
            api.generate(42, [999999])
        assert (
            refused.value.status == 422 and refused.value.details[0]["loc"] == "body.product_ids.0"
        )
        assert api.asset(text_key) == b"Generated words."

    async def recommender() -> None:
        async with AsyncClient(server, api_key=ADMIN_KEY) as api:
            # Both workers answer, and each refreshes the running experiment by itself.
            feeds = await asyncio.gather(*(api.feed(42) for _ in range(6)))
            for feed in feeds:
                assert feed.arm == arm and feed.items[0].product_id == 101
                shown = "Generated words." if arm == "generated" else "Stock title 101"
                assert feed.items[0].text == shown
            accepted = await api.send_events(
                [Event(f"ev-{redis_prefix}", 42, 101, "click", feeds[0].items[0].exposure_id)]
            )
            assert accepted.accepted == 1
            report = await api.report(experiment.id)
            await api.stop_experiment(experiment.id)
        assert report["experiment"]["id"] == experiment.id

    asyncio.run(recommender())
    deadline = time.monotonic() + 10
    with Client(server, api_key=ADMIN_KEY) as api:
        while time.monotonic() < deadline:
            arms = api.report(experiment.id)["arms"]
            if arms[arm]["exposures"] == 6:  # drained by the servers' background loops
                break
            time.sleep(0.3)
        assert arms[arm]["exposures"] == 6 and arms[arm]["users"] == 1
    conn.close()
