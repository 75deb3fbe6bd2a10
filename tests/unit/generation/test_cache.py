"""Asset keys, feed serialisation and the in-process cache (same contract as Redis)."""

from __future__ import annotations

import time

import pytest

from recgen.core.types import GateResult
from recgen.generation.cache import Feed, FeedItem, MemoryAssetCache, asset_key, keys_of


def test_key_carries_provenance_and_changes_with_model_version() -> None:
    key = asset_key("image", 15970, model_version="cgan-1", persona_id=3)
    assert key == "asset:image:cgan-1:p15970:s3"
    assert asset_key("image", 15970, model_version="cgan-2", persona_id=3) != key
    assert asset_key("text", 15970, model_version="cgan-1", persona_id=3) != key
    assert asset_key("image", 15970, model_version="cgan-1", user_id=3) == (
        "asset:image:cgan-1:p15970:u3"
    )


def test_key_rejects_ambiguous_input() -> None:
    with pytest.raises(ValueError, match="not both"):
        asset_key("text", 1, model_version="v", user_id=1, persona_id=2)
    with pytest.raises(ValueError, match="model_version"):
        asset_key("text", 1, model_version="")
    # A version cannot smuggle a separator and forge another product's key.
    forged = asset_key("text", 1, model_version="v:p2:u9")
    assert forged.count(":") == 4


def _feed() -> Feed:
    return Feed(
        user_id=7,
        generated_at=1_700_000_000.5,
        model_versions={"text": "t1", "image": "i1"},
        items=(
            FeedItem(
                1, "asset:text:t1:p1:s0", None, 0, GateResult(True), GateResult(False, ("blurry",))
            ),
            FeedItem(2, None, None, None, None, None),
        ),
    )


def test_feed_round_trips_through_json() -> None:
    feed = _feed()
    assert Feed.from_json(feed.to_json()) == feed
    assert keys_of(feed.items) == ["asset:text:t1:p1:s0"]


def test_memory_cache_ttl_jitter_and_expiry() -> None:
    cache = MemoryAssetCache(ttl=1, jitter=0.0, seed=0)
    cache.put_many({"a": b"x", "b": b"y"})
    assert cache.get_many(["a", "b", "c"]) == {"a": b"x", "b": b"y", "c": None}
    assert cache.missing(["a", "c"]) == ["c"]
    time.sleep(1.05)
    assert cache.missing(["a", "b"]) == ["a", "b"]


def test_memory_cache_lock_is_exclusive_until_released_or_expired() -> None:
    cache = MemoryAssetCache(ttl=60, jitter=0.1)
    assert cache.acquire("k", ttl=0.2)
    assert not cache.acquire("k", ttl=0.2)
    assert cache.acquire_many(["k", "j"], ttl=0.2) == ["j"]
    cache.release("k")
    assert cache.acquire("k", ttl=0.2)
    time.sleep(0.25)
    assert cache.acquire("k", ttl=0.2)


def test_memory_cache_feeds_and_ages() -> None:
    cache = MemoryAssetCache(ttl=60, jitter=0.1)
    assert cache.get_feed(7) is None
    assert cache.feed_ages([7]) == {7: None}
    feed = Feed(user_id=7, generated_at=time.time() - 30, model_versions={"text": "t"})
    cache.put_feed(feed)
    assert cache.get_feed(7) == feed
    age = cache.feed_age(7)
    assert age is not None and 29 <= age <= 40
