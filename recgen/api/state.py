"""Process-wide components of the API and the small in-process caches of the serving path.

The feed must not touch SQL per request, so the three things it needs from SQL are cached:
API keys (sha256 -> scopes, ``api_key_cache_seconds``), the running experiment (refreshed every
``experiment_refresh_seconds`` by a background loop) and stock content: titles and cleaned
descriptions (products change rarely; a miss is read once and kept).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from cachetools import LRUCache, TLRUCache
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from recgen.api.asset_urls import AssetSigner
from recgen.api.limits import RateLimits
from recgen.api.metrics import ApiMetrics
from recgen.api.services.feed import FeedReader
from recgen.core.config import Settings
from recgen.core.types import ExperimentConfig
from recgen.experiments.exposures import ExposureDrainer
from recgen.generation.cache import AssetCache
from recgen.runtime.celery_config import ping_broker
from recgen.runtime.dispatch import Dispatcher
from recgen.runtime.queued import QueuedTasks
from recgen.store.db import session_scope
from recgen.store.repos.api_keys import find_api_key, hash_key
from recgen.store.repos.experiments import experiment_config, running_experiment
from recgen.store.repos.interactions import has_interactions
from recgen.store.repos.products import first_product_ids, get_products

# Unknown keys are remembered briefly too, so a client retrying a bad key cannot hammer SQL.
_NEGATIVE_TTL = 5.0
_MAX_CACHED_KEYS = 10_000
# Bounded so a scan of unknown product ids cannot grow the process; the catalog is ~40k.
_MAX_STOCK_ITEMS = 100_000


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scopes: frozenset[str]


class KeyCache:
    def __init__(
        self, sessions: sessionmaker[Session], ttl: float,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        # A known key is kept for ``ttl``, an unknown one for _NEGATIVE_TTL (None is cached).
        self._entries: TLRUCache[str, Principal | None] = TLRUCache(
            maxsize=_MAX_CACHED_KEYS,
            ttu=lambda _key, found, now: now + (ttl if found is not None else _NEGATIVE_TTL),
            timer=timer,
        )

    async def principal(self, key: str) -> Principal | None:
        digest = hash_key(key)
        if digest in self._entries:
            return self._entries[digest]
        found = await run_in_threadpool(self._lookup, digest)
        self._entries[digest] = found
        return found

    def _lookup(self, digest: str) -> Principal | None:
        with session_scope(self._sessions) as session:
            row = find_api_key(session, key_hash=digest)
            return None if row is None else Principal(row.name, frozenset(row.scopes))

    def forget(self) -> None:
        self._entries.clear()


class ExperimentCache:
    """The running experiment (or None), as every request of this process sees it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.current: ExperimentConfig | None = None

    def refresh(self) -> ExperimentConfig | None:
        with session_scope(self._sessions) as session:
            row = running_experiment(session)
            self.current = None if row is None else experiment_config(session, experiment=row)
        return self.current


@dataclass(frozen=True, slots=True)
class StockItem:
    title: str
    has_image: bool
    # The shop's cleaned description (None: the product has none loaded).
    description: str | None = None

    @property
    def text(self) -> str:
        """The stock text a feed shows: the description where there is one, else the title."""
        return self.description or self.title


class StockCatalog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._items: LRUCache[int, StockItem] = LRUCache(maxsize=_MAX_STOCK_ITEMS)
        self._default_ids: list[int] | None = None

    async def items(self, product_ids: Iterable[int]) -> dict[int, StockItem]:
        ids = list(product_ids)
        unknown = [p for p in ids if p not in self._items]
        if unknown:
            self._items.update(await run_in_threadpool(self._load, unknown))
        return {p: self._items[p] for p in ids if p in self._items}

    def _load(self, product_ids: list[int]) -> dict[int, StockItem]:
        with session_scope(self._sessions) as session:
            products = get_products(session, product_ids=product_ids)
        return {
            pid: StockItem(p.title, bool(p.image_path), p.description)
            for pid, p in products.items()
        }

    async def default_ids(self, limit: int) -> list[int]:
        """Products for a user whose feed is unknown while Redis is down (read once)."""
        if self._default_ids is None or len(self._default_ids) < limit:
            self._default_ids = await run_in_threadpool(self._load_default_ids, limit)
        return self._default_ids[:limit]

    def _load_default_ids(self, limit: int) -> list[int]:
        with session_scope(self._sessions) as session:
            return first_product_ids(session, limit=limit)

    def image_path(self, product_id: int) -> str | None:
        with session_scope(self._sessions) as session:
            product = get_products(session, product_ids=[product_id]).get(product_id)
        return None if product is None else product.image_path


class KnownUsers:
    """Whether a user has stored history, asked only when the user has no feed in Redis.

    An unknown user is served the shared cold-start feed and queues no per-user work, so a
    scan of made-up user ids costs one index probe each, never a refresh. A user with history
    stays known (kept up to ``capacity``); an unknown answer is kept for _NEGATIVE_TTL so a
    client repeating one id does not hammer SQL, and a user's first events count soon.
    """

    def __init__(
        self, sessions: sessionmaker[Session], capacity: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._known: TLRUCache[int, bool] = TLRUCache(
            maxsize=max(1, capacity),
            ttu=lambda _user, known, now: now + (float("inf") if known else _NEGATIVE_TTL),
            timer=timer,
        )

    async def has_history(self, user_id: int) -> bool:
        if user_id in self._known:
            return self._known[user_id]
        known = await run_in_threadpool(self._lookup, user_id)
        self._known[user_id] = known
        return known

    def _lookup(self, user_id: int) -> bool:
        with session_scope(self._sessions) as session:
            return has_interactions(session, user_id=user_id)


class RecentFeeds:
    """The product ids last served per user (bounded, LRU): while Redis is down a user still
    sees the products of their feed, with stock content, instead of an error."""

    def __init__(self, capacity: int) -> None:
        self._ids: LRUCache[int, tuple[int, ...]] = LRUCache(maxsize=capacity)

    def remember(self, user_id: int, product_ids: Iterable[int]) -> None:
        self._ids[user_id] = tuple(product_ids)

    def get(self, user_id: int) -> tuple[int, ...] | None:
        return self._ids.get(user_id)


class BrokerProbe:
    """Pings a Redis broker over one kept connection per URL instead of a new one per probe
    (AMQP brokers get a fresh connection per probe; the verdict cache bounds how often)."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._clients: dict[str, redis.Redis[bytes]] = {}

    def ping(self, broker_url: str) -> None:
        if not broker_url.startswith(("redis://", "rediss://")):
            ping_broker(broker_url, self._timeout_s)
            return
        client = self._clients.get(broker_url)
        if client is None:
            client = redis.Redis.from_url(
                broker_url, socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
            )
            self._clients[broker_url] = client
        client.ping()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class Readiness:
    """The last readiness verdict, reused for ``ttl`` seconds; one probe runs at a time, so a
    burst of probes (or a scan) costs one round of checks, not a broker connection each."""

    def __init__(
        self, ttl: float, broker: BrokerProbe, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self.broker = broker
        self._timer = timer
        self._at = -float("inf")
        self._verdict: tuple[bool, dict[str, dict[str, Any]]] | None = None
        self.lock = asyncio.Lock()

    def cached(self) -> tuple[bool, dict[str, dict[str, Any]]] | None:
        fresh = self._timer() - self._at < self._ttl
        return self._verdict if fresh else None

    def store(self, verdict: tuple[bool, dict[str, dict[str, Any]]]) -> None:
        self._verdict, self._at = verdict, self._timer()


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    redis_async: aioredis.Redis[bytes]
    redis_sync: redis.Redis[bytes]
    cache: AssetCache
    dispatcher: Dispatcher
    metrics: ApiMetrics
    keys: KeyCache
    experiments: ExperimentCache
    stock: StockCatalog
    feeds: FeedReader
    drainer: ExposureDrainer
    recent: RecentFeeds
    known: KnownUsers
    rate: RateLimits
    queued: QueuedTasks
    signer: AssetSigner
    readiness: Readiness
