"""A recommender key reading feeds of made-up user ids must not create per-user work.

Served API (``recgen serve``) on a Redis of its own (cache db 0, Celery broker db 1, so the
test counts exactly the messages this API queued) and the session's PostgreSQL. Before the
cold-start path, every never-seen id queued a refresh that generated assets for that id.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from threading import Event

import httpx
import redis

from harness.served import served_api
from harness.world import PRODUCTS, api_settings, headers, seed, settings_env
from recgen.core.keys import COLD_START_USER
from recgen.jobs.names import TASK_REFRESH_FEED
from tests.support.services import OwnRedis
from tests.support.world import put_generated_feed, queued_tasks

UNKNOWN_FEEDS = 1000
CONNECTIONS = 200
KNOWN_USERS = range(1, 21)
KNOWN_P99_BOUND_S = 0.050


def probe_known(base: str, key: str, done: Event) -> list[float]:
    """Known users' feed latencies until ``done`` is set, in a process of its own: the load
    generator's event loop (200 connections on a shared CPU) must not add its own waits."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        for n in itertools.count():
            if done.is_set():
                break
            started = time.perf_counter()
            response = client.get(f"/v1/feed/{KNOWN_USERS[n % len(KNOWN_USERS)]}")
            latencies.append(time.perf_counter() - started)
            if response.json()["state"] != "ready":
                raise AssertionError(response.text)
            time.sleep(0.002)
    return latencies


async def _unknown_feeds(base: str) -> tuple[list[int], set[str]]:
    """1,000 feeds of made-up ids over 200 connections: their statuses and the states seen."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    statuses: list[int] = []
    states: set[str] = set()
    ids = iter(range(10_000_000, 10_000_000 + UNKNOWN_FEEDS))  # never seen: no feed, no history
    async with httpx.AsyncClient(
        base_url=base, headers=headers("recommender"), limits=limits, timeout=30
    ) as client:

        async def connection() -> None:
            for user_id in ids:
                response = await client.get(f"/v1/feed/{user_id}")
                statuses.append(response.status_code)
                states.add(response.json().get("state", "?"))

        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return statuses, states


def test_unknown_user_feeds_queue_no_work_and_known_users_stay_fast(
    own_redis: OwnRedis, migrated_pg_url: str
) -> None:
    seed(migrated_pg_url)
    prefix = f"rel-cold-{uuid.uuid4().hex[:8]}"
    # The slow-client deadlines have their own tests (test_slow_clients.py); here 200 busy
    # connections on a shared 2-core machine may wait past them, and a connection closed under
    # the load generator is not what this test measures.
    settings = api_settings(migrated_pg_url, own_redis.url().rsplit("/", 1)[0], prefix,
                            api_header_timeout_seconds=120.0, api_keep_alive_seconds=120.0)
    for user in KNOWN_USERS:
        put_generated_feed(settings.redis_url, prefix, user, [p.product_id for p in PRODUCTS[:5]])
    broker: redis.Redis[bytes] = redis.Redis.from_url(settings.broker_url)
    with served_api(settings_env(settings)) as server:
        # Warm the key and stock caches so the figures measure the steady state.
        httpx.get(f"{server.url}/v1/feed/1", headers=headers("recommender"))
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool, spawn.Manager() as manager:
            pool.submit(time.sleep, 0).result()  # the probe's process is up before the load
            done = manager.Event()
            probe = pool.submit(probe_known, server.url, headers("recommender")["X-API-Key"], done)
            started = time.perf_counter()
            try:
                statuses, states = asyncio.run(_unknown_feeds(server.url))
            finally:
                done.set()
            load_s = time.perf_counter() - started
            latencies = probe.result(timeout=60)
        time.sleep(0.5)  # the feed enqueues after answering
        queued = queued_tasks(broker, prefix)
    broker.close()
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"unknown feeds {len(statuses)} in {load_s:.2f} s, states {states}, "
          f"queued {len(queued)}, known p50 {latencies[len(latencies) // 2] * 1000:.1f} ms "
          f"p99 {p99 * 1000:.1f} ms")
    assert statuses == [200] * UNKNOWN_FEEDS
    assert states == {"cold_start"}
    # Only the shared cold-start feed's refresh (it is not made yet), once: nothing per user.
    assert queued == [(TASK_REFRESH_FEED, {"user_id": COLD_START_USER})], queued
    assert p99 <= KNOWN_P99_BOUND_S
