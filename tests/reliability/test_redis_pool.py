"""The served API's async Redis pool must cover its concurrency.

redis-py's pool defaults to 100 connections and raises "Too many connections" past them, which
the feed answers with stock content (``degraded``): any moment with more than 100 feeds
waiting on Redis served the rest stock. Here Redis (a server of the test's own) is paused for a
moment while 150 feeds of a user with a cached feed are in flight, so every request holds a
connection at once; each must still get its feed once Redis answers.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
import redis

from harness.served import served_api
from harness.world import PRODUCTS, api_settings, headers, seed, settings_env
from tests.support.services import OwnRedis
from tests.support.world import put_generated_feed

IN_FLIGHT = 150  # past redis-py's default pool of 100
PAUSE_MS = 1500  # well under api_redis_timeout_seconds (5 s): a wait, not an outage


async def _feeds(base: str, user: int) -> list[str]:
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, headers=headers("recommender"), limits=limits,
                                 timeout=30) as client:
        answers = await asyncio.gather(*(client.get(f"/v1/feed/{user}") for _ in range(IN_FLIGHT)))
    return [a.json()["state"] for a in answers]


def test_feeds_past_100_concurrent_are_not_served_stock(
    own_redis: OwnRedis, migrated_pg_url: str
) -> None:
    seed(migrated_pg_url)
    prefix = f"rel-pool-{uuid.uuid4().hex[:8]}"
    settings = api_settings(migrated_pg_url, own_redis.url().rsplit("/", 1)[0], prefix)
    put_generated_feed(settings.redis_url, prefix, 7, [p.product_id for p in PRODUCTS[:5]])
    admin: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    with served_api(settings_env(settings)) as server:
        # Warm the API's key cache: a key lookup is SQL, not Redis, but must not delay the burst.
        httpx.get(f"{server.url}/v1/feed/7", headers=headers("recommender"))
        # Paused from another thread just after the burst starts, so the requests pile up.
        pauser = threading.Timer(0.2, lambda: admin.execute_command("CLIENT", "PAUSE", PAUSE_MS))
        pauser.start()
        started = time.monotonic()
        states = asyncio.run(_feeds(server.url, 7))
        pauser.join()
    admin.close()
    print(f"{IN_FLIGHT} feeds in {time.monotonic() - started:.2f} s: "
          f"{states.count('ready')} ready, {states.count('degraded')} degraded")
    assert states.count("ready") == IN_FLIGHT
