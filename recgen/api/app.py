"""The FastAPI application: wiring, lifespan (background loops) and OpenAPI.

Background loops of each process: refresh the running experiment every
``experiment_refresh_seconds``; drain exposure entries from Redis to SQL every
``exposure_drain_interval_seconds`` (immediately again while there is a backlog).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from recgen.api.asset_urls import AssetSigner
from recgen.api.deps import document_security
from recgen.api.errors import install_error_handlers
from recgen.api.limits import BodySizeLimit, RateLimits
from recgen.api.metrics import ApiMetrics, LatencyMiddleware
from recgen.api.routes import (
    assets,
    dashboard,
    events,
    experiments,
    feed,
    generation,
    health,
)
from recgen.api.services.feed import FeedReader
from recgen.api.state import (
    AppState,
    BrokerProbe,
    ExperimentCache,
    KeyCache,
    KnownUsers,
    Readiness,
    RecentFeeds,
    StockCatalog,
)
from recgen.core.config import ConfigError, Settings, get_settings
from recgen.core.keys import exposure_stream
from recgen.experiments.exposures import ExposureDrainer
from recgen.generation.cache import AssetCache
from recgen.runtime.bootstrap import (
    build_cache,
    build_dispatcher,
    build_queued_tasks,
    build_redis,
    build_sessions,
)
from recgen.runtime.dispatch import Dispatcher
from recgen.store.db import session_scope
from recgen.store.repos.api_keys import create_api_key, find_api_key, hash_key

log = logging.getLogger(__name__)
API_VERSION = "1.0.0"
READY_CHECK_TIMEOUT_S = 2.0  # each readiness check's deadline


@dataclass(frozen=True)
class Overrides:
    """Collaborators a test (or an embedding service) supplies instead of the configured ones."""

    dispatcher: Dispatcher | None = None
    cache: AssetCache | None = None


def build_state(settings: Settings, overrides: Overrides) -> AppState:
    if settings.cache_backend != "redis":
        raise ConfigError(
            'the API serves feeds from Redis: set cache_backend = "redis" '
            "(RECGEN_CACHE_BACKEND=redis) and redis_url"
        )
    sessions = build_sessions(settings)
    # No socket_timeout (redis-py would wrap every command's send in asyncio.wait_for, a Task
    # per command): each async call is bounded by redis_deadline.redis_call instead. None, not
    # omitted: redis-py's default is 5 s.
    redis_async: aioredis.Redis[bytes] = aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=None,
        socket_connect_timeout=5,
        max_connections=settings.api_redis_pool_size,
    )
    redis_sync = build_redis(settings)
    stream = exposure_stream(settings)
    cache = overrides.cache or build_cache(settings)
    return AppState(
        settings=settings,
        sessions=sessions,
        redis_async=redis_async,
        redis_sync=redis_sync,
        cache=cache,
        # In-process jobs must write into the very cache object the API reads.
        dispatcher=overrides.dispatcher or build_dispatcher(settings, cache=cache),
        metrics=ApiMetrics(),
        keys=KeyCache(sessions, settings.api_key_cache_seconds),
        experiments=ExperimentCache(sessions),
        stock=StockCatalog(sessions),
        feeds=FeedReader(
            redis_async,
            prefix=settings.cache_prefix,
            stream=stream,
            timeout=settings.api_redis_timeout_seconds,
        ),
        drainer=ExposureDrainer(
            redis_sync, sessions, stream=stream, batch=settings.exposure_drain_batch
        ),
        recent=RecentFeeds(settings.api_recent_feeds),
        known=KnownUsers(sessions, settings.api_recent_feeds),
        rate=RateLimits(
            redis_sync,
            prefix=settings.cache_prefix,
            per_minute={
                "generate": settings.api_generate_per_minute,
                "events": settings.api_events_per_minute,
                "feed_enqueue": settings.api_feed_enqueues_per_minute,
            },
        ),
        queued=build_queued_tasks(settings, redis_sync),
        signer=AssetSigner(asset_url_secret(settings)),
        readiness=Readiness(settings.api_ready_cache_seconds, BrokerProbe(READY_CHECK_TIMEOUT_S)),
    )


def asset_url_secret(settings: Settings) -> bytes:
    """The secret that signs asset URLs; a production API refuses to start without one."""
    if settings.asset_url_secret is not None:
        return settings.asset_url_secret.get_secret_value().encode()
    if settings.env == "production":
        raise ConfigError(
            "asset_url_secret (RECGEN_ASSET_URL_SECRET) is required in production: it makes "
            "asset URLs unguessable; use at least 16 random bytes, the same on every API server"
        )
    log.warning("asset_url_secret is unset: asset URL tokens derive from cache_prefix")
    return hashlib.sha256(b"recgen-unset-asset-secret/" + settings.cache_prefix.encode()).digest()


def _bootstrap_key(state: AppState) -> None:
    secret = state.settings.api_bootstrap_key
    if secret is None:
        return
    with session_scope(state.sessions) as session:
        if find_api_key(session, key_hash=hash_key(secret.get_secret_value())) is None:
            create_api_key(
                session, name="bootstrap-admin", scopes=["admin"], key=secret.get_secret_value()
            )


async def _every(seconds: float, job: Callable[[], Awaitable[bool]], name: str) -> None:
    """Run ``job`` forever; it returns True when it should run again at once (a backlog)."""
    while True:
        try:
            again = await job()
        except Exception:  # a database or Redis hiccup must not kill the loop
            log.exception("background job %s failed; retrying", name)
            again = False
        if not again:
            await asyncio.sleep(seconds)


def create_app(settings: Settings | None = None, overrides: Overrides | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings, overrides or Overrides())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Process-wide, so only while this app serves: the interpreter's value comes back.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(settings.api_gil_switch_interval_ms / 1000.0)
        try:
            async with _background(state, settings):
                yield
        finally:
            sys.setswitchinterval(switch_interval)

    app = FastAPI(
        title="recgen",
        version=API_VERSION,
        summary="Personalized generated product content: feeds, generation, events, A/B tests.",
        lifespan=lifespan,
        # None: the route is not mounted (404), the schema is still built for tests and tools.
        docs_url="/docs" if settings.api_docs_enabled else None,
        redoc_url="/redoc" if settings.api_docs_enabled else None,
        openapi_url="/openapi.json" if settings.api_docs_enabled else None,
    )
    app.state.recgen = state
    install_error_handlers(app)
    _mount_routes(app)
    # Each add wraps the previous: the size limit (last) refuses before anything reads the
    # body, and the feed's fast path (first) still runs inside the latency metric.
    app.add_middleware(
        feed.FeedFastPath,
        state=state,
        route=next(r for r in feed.router.routes if getattr(r, "name", "") == "get_feed"),
    )
    app.add_middleware(LatencyMiddleware, metrics=state.metrics)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api_max_body_bytes,
        timeout_s=settings.api_body_timeout_seconds,
    )
    return app


@asynccontextmanager
async def _background(state: AppState, settings: Settings) -> AsyncIterator[None]:
    """The bootstrap key and the first experiment read, then the loops until shutdown."""

    async def refresh_experiment() -> bool:
        await run_in_threadpool(state.experiments.refresh)
        return False

    async def drain() -> bool:
        entries, written = await run_in_threadpool(state.drainer.drain_once)
        state.metrics.exposures_drained.inc(written)
        return entries >= settings.exposure_drain_batch

    await run_in_threadpool(_bootstrap_key, state)
    await run_in_threadpool(state.experiments.refresh)
    loops = [
        asyncio.create_task(
            _every(settings.experiment_refresh_seconds, refresh_experiment, "experiments")
        )
    ]
    if settings.exposure_drain_in_api:
        loops.append(
            asyncio.create_task(_every(settings.exposure_drain_interval_seconds, drain, "drain"))
        )
    try:
        yield
    finally:
        for task in loops:
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Whatever this process logged last is written before it exits.
        if settings.exposure_drain_in_api:
            with contextlib.suppress(Exception):
                await run_in_threadpool(state.drainer.drain_all)
        await state.redis_async.aclose()  # type: ignore[attr-defined]
        state.redis_sync.close()
        state.readiness.broker.close()


def _mount_routes(app: FastAPI) -> None:
    """The routers, the dashboard's static files, and the OpenAPI document with each
    route's key scope."""
    routers = [
        m.router for m in (feed, generation, assets, events, experiments, dashboard, health)
    ]
    for router in routers:
        app.include_router(router)
    app.include_router(dashboard.page)
    app.mount("/dashboard/static", StaticFiles(directory=dashboard.STATIC_DIR), name="dashboard")
    default_openapi = app.openapi

    def openapi_with_security() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_security(routers, default_openapi())
        return app.openapi_schema or {}

    app.openapi = openapi_with_security  # type: ignore[method-assign]
