"""The asset cache: generated texts (UTF-8) and images (PNG bytes), per-user feeds, locks.

Assets are addressed by their logical key, :func:`recgen.core.keys.asset_key`: provenance is
*in* the key (kind, model version, product, and the user or persona it was made for), so a
model upgrade changes every key and an old asset can never be served for a new model. Every
key and payload format the cache writes is defined in :mod:`recgen.core.keys`.

Interface (both backends implement :class:`AssetCache`):

- ``get_many(keys) -> {key: bytes | None}``, ``missing(keys) -> [key]`` (existence only, no
  payload transfer), ``put_many({key: bytes})`` (one pipelined round trip; each key gets
  ``ttl`` seconds +/- ``jitter`` so a batch written together does not expire together).
- ``get_feed(user_id) -> StoredFeed | None``, ``put_feed(feed)``, ``put_feeds(feeds)`` (pipelined),
  ``feed_age(user_id) -> seconds | None``, ``feed_ages(user_ids)`` (pipelined, no bodies read).
  A :class:`StoredFeed` is JSON in the :class:`recgen.core.keys.FeedPayload` format (never
  pickle), validated when read; an item with ``text_key``/``image_key`` None means
  "serve the stock title/photo" (generation failed or its gate rejected the asset).
- ``acquire(key, ttl) -> bool`` / ``release(key)``: a stampede lock (``SET NX PX``); only the
  holder's token can release it, and it expires by itself if the holder dies.
  ``acquire_many(keys, ttl) -> [acquired keys]`` / ``release_many(keys)``: pipelined.
- ``ping()``, ``purge()`` (delete everything under this cache's prefix; for tests/ops),
  ``stats(fresh_within_s)`` (feeds tracked and refreshed recently, plus the backend's own
  counters; cheap: no key scan).

Two implementations: :class:`RedisAssetCache` (production) and :class:`MemoryAssetCache` (the
embedded default); :func:`recgen.runtime.bootstrap.build_cache` picks one from the settings.
This module knows nothing of models and reads no settings.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import redis

from recgen.core.keys import (
    FEED,
    FEED_PAYLOAD,
    FEEDS_REFRESHED,
    FeedPayload,
    GatePayload,
    feed_key,
    gate_of,
    gate_payload,
    lock_key,
    namespace,
)
from recgen.core.types import GateResult

if TYPE_CHECKING:
    pass

# Release only our own lock: a lock that expired and was re-acquired by another worker must
# not be deleted by the first holder finishing late.
_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


# Take a lock, or keep one this owner already holds: a task redelivered after its worker was
# killed carries the same task id, so it takes over its own dead locks instead of waiting for
# them to expire (and referencing assets nobody is generating any more).
_ACQUIRE_SCRIPT = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class StoredFeedItem:
    """One product of a feed. A None key means: serve the stock content for that kind."""

    product_id: int
    text_key: str | None
    image_key: str | None
    persona_id: int | None = None
    text_gate: GateResult | None = None
    image_gate: GateResult | None = None


@dataclass(frozen=True, slots=True)
class StoredFeed:
    user_id: int
    generated_at: float  # Unix seconds
    model_versions: Mapping[str, str]  # {"text": "...", "image": "..."}
    items: tuple[StoredFeedItem, ...] = field(default_factory=tuple)

    def to_json(self) -> bytes:
        payload: FeedPayload = {
            "user_id": self.user_id,
            "generated_at": self.generated_at,
            "model_versions": dict(self.model_versions),
            "items": [
                {
                    "product_id": item.product_id,
                    "text_key": item.text_key,
                    "image_key": item.image_key,
                    "persona_id": item.persona_id,
                    "text_gate": _gate_payload(item.text_gate),
                    "image_gate": _gate_payload(item.image_gate),
                }
                for item in self.items
            ],
        }
        return FEED_PAYLOAD.dump_json(payload)

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredFeed:
        """Parse (and validate) a feed as :meth:`to_json` wrote it."""
        body = FEED_PAYLOAD.validate_json(raw)
        items = tuple(
            StoredFeedItem(
                product_id=item["product_id"],
                text_key=item["text_key"],
                image_key=item["image_key"],
                persona_id=item["persona_id"],
                text_gate=_gate(item["text_gate"]),
                image_gate=_gate(item["image_gate"]),
            )
            for item in body["items"]
        )
        return cls(
            user_id=body["user_id"],
            generated_at=body["generated_at"],
            model_versions=body["model_versions"],
            items=items,
        )


def _gate_payload(gate: GateResult | None) -> GatePayload | None:
    return None if gate is None else gate_payload(gate)


def _gate(payload: GatePayload | None) -> GateResult | None:
    return None if payload is None else gate_of(payload)


class AssetCache(Protocol):
    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]: ...
    def missing(self, keys: Sequence[str]) -> list[str]: ...
    def put_many(self, items: Mapping[str, bytes]) -> None: ...
    def get_feed(self, user_id: int) -> StoredFeed | None: ...
    def put_feed(self, feed: StoredFeed) -> None: ...
    def put_feeds(self, feeds: Sequence[StoredFeed]) -> None: ...
    def feed_age(self, user_id: int) -> float | None: ...
    def feed_ages(self, user_ids: Sequence[int]) -> dict[int, float | None]: ...
    def acquire(self, key: str, ttl: float) -> bool: ...
    def acquire_many(
        self, keys: Sequence[str], ttl: float, owner: str | None = None
    ) -> list[str]: ...
    def release(self, key: str) -> None: ...
    def release_many(self, keys: Sequence[str], owner: str | None = None) -> None: ...
    def ping(self) -> bool: ...
    def purge(self) -> int: ...
    def stats(self, fresh_within_s: float) -> dict[str, Any]: ...


class _TtlPolicy:
    """Per-key TTL: ``ttl`` +/- ``jitter`` (a fraction) so one batch does not expire at once."""

    def __init__(self, ttl: int, jitter: float, seed: int | None = None) -> None:
        if ttl <= 0 or not 0.0 <= jitter < 1.0:
            raise ValueError("ttl must be > 0 and 0 <= jitter < 1")
        self.ttl = ttl
        self.jitter = jitter
        self._rng = random.Random(seed)

    def next(self) -> int:
        return max(1, round(self.ttl * (1.0 + self._rng.uniform(-self.jitter, self.jitter))))

    @property
    def feed_ttl(self) -> int:
        # A feed lives no longer than the shortest-lived asset written with it.
        return max(1, int(self.ttl * (1.0 - self.jitter)))


class RedisAssetCache:
    """Asset cache on Redis; every key lives under ``prefix:`` so tenants/tests never collide."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        prefix: str,
        ttl: int,
        jitter: float,
        *,
        seed: int | None = None,
    ) -> None:
        self._r = client
        self._namespace = namespace(prefix)
        self._ttl = _TtlPolicy(ttl, jitter, seed)
        self._token = uuid.uuid4().hex
        self._release = client.register_script(_RELEASE_SCRIPT)
        self._acquire = client.register_script(_ACQUIRE_SCRIPT)

    def _k(self, key: str) -> str:
        return self._namespace + key

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        if not keys:
            return {}
        values = self._r.mget([self._k(k) for k in keys])
        return dict(zip(keys, values, strict=True))

    def missing(self, keys: Sequence[str]) -> list[str]:
        if not keys:
            return []
        pipe = self._r.pipeline(transaction=False)
        for key in keys:
            pipe.exists(self._k(key))
        return [key for key, found in zip(keys, pipe.execute(), strict=True) if not found]

    def put_many(self, items: Mapping[str, bytes]) -> None:
        if not items:
            return
        pipe = self._r.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(self._k(key), value, ex=self._ttl.next())
        pipe.execute()

    def _feed_key(self, user_id: int) -> str:
        return self._k(feed_key(user_id))

    def get_feed(self, user_id: int) -> StoredFeed | None:
        raw = self._r.get(self._feed_key(user_id))
        return None if raw is None else StoredFeed.from_json(raw)

    def put_feed(self, feed: StoredFeed) -> None:
        self.put_feeds([feed])

    def put_feeds(self, feeds: Sequence[StoredFeed]) -> None:
        """Write feeds and their refresh times (a sorted set) in one round trip."""
        if not feeds:
            return
        pipe = self._r.pipeline(transaction=False)
        for feed in feeds:
            pipe.set(self._feed_key(feed.user_id), feed.to_json(), ex=self._ttl.feed_ttl)
        pipe.zadd(self._k(FEEDS_REFRESHED), {str(f.user_id): f.generated_at for f in feeds})
        pipe.execute()

    def feed_age(self, user_id: int) -> float | None:
        return self.feed_ages([user_id])[user_id]

    def feed_ages(self, user_ids: Sequence[int]) -> dict[int, float | None]:
        """Seconds since each user's feed was written; None if it never was or has expired.

        Reads only the sorted set and key existence, not the feed bodies, so the beat's scan
        over every user stays cheap.
        """
        if not user_ids:
            return {}
        pipe = self._r.pipeline(transaction=False)
        pipe.zmscore(self._k(FEEDS_REFRESHED), [str(u) for u in user_ids])  # type: ignore[no-untyped-call]
        for user_id in user_ids:
            pipe.exists(self._feed_key(user_id))
        scores, *present = pipe.execute()
        now = time.time()
        return {
            u: None if score is None or not alive else max(0.0, now - float(score))
            for u, score, alive in zip(user_ids, scores, present, strict=True)
        }

    def acquire(self, key: str, ttl: float) -> bool:
        return bool(self._r.set(self._k(lock_key(key)), self._token, nx=True, px=int(ttl * 1000)))

    def acquire_many(self, keys: Sequence[str], ttl: float, owner: str | None = None) -> list[str]:
        """Try every lock in one round trip; return the keys whose lock we now hold.

        ``owner`` (a task id) also wins locks it already holds from an earlier delivery.
        """
        if not keys:
            return []
        token, px = owner or self._token, int(ttl * 1000)
        pipe = self._r.pipeline(transaction=False)
        for key in keys:
            self._acquire(keys=[self._k(lock_key(key))], args=[token, px], client=pipe)
        return [key for key, won in zip(keys, pipe.execute(), strict=True) if won]

    def release(self, key: str) -> None:
        self._release(keys=[self._k(lock_key(key))], args=[self._token])

    def release_many(self, keys: Sequence[str], owner: str | None = None) -> None:
        if not keys:
            return
        pipe = self._r.pipeline(transaction=False)
        for key in keys:
            self._release(keys=[self._k(lock_key(key))], args=[owner or self._token], client=pipe)
        pipe.execute()

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False

    def purge(self) -> int:
        deleted = 0
        batch: list[bytes] = []
        for key in self._r.scan_iter(match=self._namespace + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(self._r.delete(*batch))
                batch = []
        if batch:
            deleted += int(self._r.delete(*batch))
        return deleted

    def stats(self, fresh_within_s: float) -> dict[str, Any]:
        """StoredFeed counts from the refresh-time sorted set and the server's memory and hit
        counters (server-wide: Redis counts hits for every client, not only this cache)."""
        pipe = self._r.pipeline(transaction=False)
        refreshed = self._k(FEEDS_REFRESHED)
        pipe.zcard(refreshed)
        pipe.zcount(refreshed, time.time() - fresh_within_s, "+inf")
        pipe.info("memory")
        pipe.info("stats")
        tracked, fresh, memory, counters = pipe.execute()
        return {
            "backend": "redis",
            "feeds_tracked": int(tracked),
            "feeds_fresh": int(fresh),
            "used_memory_bytes": int(memory.get("used_memory", 0)),
            "server_keyspace_hits": int(counters.get("keyspace_hits", 0)),
            "server_keyspace_misses": int(counters.get("keyspace_misses", 0)),
        }


class MemoryAssetCache:
    """The embedded default: same semantics as Redis (TTL, NX locks) in one process."""

    def __init__(self, ttl: int, jitter: float, *, seed: int | None = None) -> None:
        self._ttl = _TtlPolicy(ttl, jitter, seed)
        self._data: dict[str, tuple[bytes, float]] = {}  # key -> (value, expires at, monotonic)
        self._lock = threading.Lock()

    def _get(self, key: str) -> bytes | None:
        hit = self._data.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            del self._data[key]
            return None
        return hit[0]

    def _set(self, key: str, value: bytes, ttl: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl)

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        with self._lock:
            return {key: self._get(key) for key in keys}

    def missing(self, keys: Sequence[str]) -> list[str]:
        with self._lock:
            return [key for key in keys if self._get(key) is None]

    def put_many(self, items: Mapping[str, bytes]) -> None:
        with self._lock:
            for key, value in items.items():
                self._set(key, bytes(value), self._ttl.next())

    def get_feed(self, user_id: int) -> StoredFeed | None:
        with self._lock:
            raw = self._get(feed_key(user_id))
        return None if raw is None else StoredFeed.from_json(raw)

    def put_feed(self, feed: StoredFeed) -> None:
        self.put_feeds([feed])

    def put_feeds(self, feeds: Sequence[StoredFeed]) -> None:
        with self._lock:
            for feed in feeds:
                self._set(feed_key(feed.user_id), feed.to_json(), self._ttl.feed_ttl)

    def feed_age(self, user_id: int) -> float | None:
        return self.feed_ages([user_id])[user_id]

    def feed_ages(self, user_ids: Sequence[int]) -> dict[int, float | None]:
        now = time.time()
        ages: dict[int, float | None] = {}
        for user_id in user_ids:
            feed = self.get_feed(user_id)
            ages[user_id] = None if feed is None else max(0.0, now - feed.generated_at)
        return ages

    def acquire(self, key: str, ttl: float) -> bool:
        with self._lock:
            if self._get(lock_key(key)) is not None:
                return False
            self._set(lock_key(key), b"1", ttl)
            return True

    def acquire_many(self, keys: Sequence[str], ttl: float, owner: str | None = None) -> list[str]:
        # In one process nothing is redelivered, so an owner never finds its own stale lock.
        return [key for key in keys if self.acquire(key, ttl)]

    def release(self, key: str) -> None:
        with self._lock:
            self._data.pop(lock_key(key), None)

    def release_many(self, keys: Sequence[str], owner: str | None = None) -> None:
        for key in keys:
            self.release(key)

    def ping(self) -> bool:
        return True

    def purge(self) -> int:
        with self._lock:
            count = len(self._data)
            self._data.clear()
            return count

    def stats(self, fresh_within_s: float) -> dict[str, Any]:
        with self._lock:
            feeds = [self._get(key) for key in list(self._data) if key.startswith(FEED)]
        ages = [time.time() - StoredFeed.from_json(raw).generated_at for raw in feeds if raw]
        return {
            "backend": "memory",
            "feeds_tracked": len(ages),
            "feeds_fresh": sum(1 for age in ages if age <= fresh_within_s),
            "entries": len(self._data),
        }
