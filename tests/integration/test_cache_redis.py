"""RedisAssetCache against the real Redis (unique key prefix per test; never FLUSHDB)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from recgen.core.keys import asset_key
from recgen.core.types import GateResult
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    conn: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture()
def cache(client: redis.Redis[bytes], redis_prefix: str) -> Iterator[RedisAssetCache]:
    store = RedisAssetCache(client, redis_prefix, ttl=100, jitter=0.2, seed=1)
    yield store
    store.purge()


def test_put_get_with_jittered_ttl(
    cache: RedisAssetCache, client: redis.Redis[bytes], redis_prefix: str
) -> None:
    keys = [asset_key("image", p, model_version="v1", persona_id=1) for p in range(20)]
    cache.put_many({k: f"png-{i}".encode() for i, k in enumerate(keys)})
    got = cache.get_many([*keys, "absent"])
    assert got[keys[3]] == b"png-3" and got["absent"] is None
    assert cache.missing([keys[0], "absent"]) == ["absent"]
    ttls = {int(client.ttl(f"{redis_prefix}:{k}")) for k in keys}
    assert all(80 <= t <= 120 for t in ttls)
    assert len(ttls) > 1  # jitter: a batch written together does not expire together


def test_lock_is_exclusive_and_only_its_holder_releases_it(
    client: redis.Redis[bytes], redis_prefix: str
) -> None:
    first = RedisAssetCache(client, redis_prefix, ttl=100, jitter=0.0)
    second = RedisAssetCache(client, redis_prefix, ttl=100, jitter=0.0)
    try:
        assert first.acquire_many(["a", "b"], ttl=5) == ["a", "b"]
        assert second.acquire_many(["a", "b", "c"], ttl=5) == ["c"]
        second.release("a")  # not the holder: no effect
        assert not second.acquire("a", ttl=5)
        first.release_many(["a", "b"])
        assert second.acquire("a", ttl=0.2)
        time.sleep(0.3)
        assert first.acquire("a", ttl=5)  # an expired lock is free again
    finally:
        first.purge()


def test_feeds_and_ages(cache: RedisAssetCache) -> None:
    now = time.time()
    feeds = [
        StoredFeed(
            user_id=u,
            generated_at=now - 60 * u,
            model_versions={"text": "t", "image": "i"},
            items=(StoredFeedItem(1, "asset:text:t:p1:s0", None, 0, GateResult(True), None),),
        )
        for u in (1, 2)
    ]
    cache.put_feeds(feeds)
    assert cache.get_feed(2) == feeds[1]
    ages = cache.feed_ages([1, 2, 3])
    assert ages[3] is None
    assert ages[1] is not None and 55 <= ages[1] <= 70
    assert ages[2] is not None and 115 <= ages[2] <= 130
    assert cache.ping()
    assert cache.purge() >= 3
    assert cache.get_feed(1) is None and cache.feed_age(1) is None
