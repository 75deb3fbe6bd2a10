"""StoredFeed serialisation and the in-process cache (same contract as Redis)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from recgen.core.types import GateResult
from recgen.generation.cache import MemoryAssetCache, StoredFeed, StoredFeedItem


def _feed() -> StoredFeed:
    return StoredFeed(
        user_id=7,
        generated_at=1_700_000_000.5,
        model_versions={"text": "t1", "image": "i1"},
        items=(
            StoredFeedItem(
                1, "asset:text:t1:p1:s0", None, 0, GateResult(True), GateResult(False, ("blurry",))
            ),
            StoredFeedItem(2, None, None, None, None, None),
        ),
    )


def test_feed_round_trips_through_json() -> None:
    feed = _feed()
    assert StoredFeed.from_json(feed.to_json()) == feed


def test_feed_json_is_the_payload_format_readers_expect() -> None:
    # What the serving script and feeds written by earlier versions rely on.
    assert json.loads(_feed().to_json()) == {
        "user_id": 7,
        "generated_at": 1_700_000_000.5,
        "model_versions": {"text": "t1", "image": "i1"},
        "items": [
            {
                "product_id": 1,
                "text_key": "asset:text:t1:p1:s0",
                "image_key": None,
                "persona_id": 0,
                "text_gate": {"passed": True, "reasons": []},
                "image_gate": {"passed": False, "reasons": ["blurry"]},
            },
            {
                "product_id": 2,
                "text_key": None,
                "image_key": None,
                "persona_id": None,
                "text_gate": None,
                "image_gate": None,
            },
        ],
    }


@pytest.mark.parametrize(
    "mangle",
    [
        lambda body: body.pop("model_versions"),
        lambda body: body.update(user_id="seven"),
        lambda body: body["items"][0].update(text_key=15),
        lambda body: body["items"][0].update(text_gate={"passed": True}),
    ],
)
def test_a_malformed_feed_is_refused_not_half_read(mangle: Callable[[Any], object]) -> None:
    body = json.loads(_feed().to_json())
    mangle(body)
    with pytest.raises(ValidationError):
        StoredFeed.from_json(json.dumps(body))


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
    feed = StoredFeed(user_id=7, generated_at=time.time() - 30, model_versions={"text": "t"})
    cache.put_feed(feed)
    assert cache.get_feed(7) == feed
    age = cache.feed_age(7)
    assert age is not None and 29 <= age <= 40
