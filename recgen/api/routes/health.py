"""Liveness, readiness (database, Redis, broker) and Prometheus metrics.

The probes need no key; readiness reuses its verdict for ``api_ready_cache_seconds`` and names
only the failing check and the error's type. ``/metrics`` needs an admin key unless
``api_metrics_public``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from recgen.api.deps import StateDep, api_key, authenticate, scopes_for
from recgen.api.errors import JsonResponse
from recgen.api.state import AppState
from recgen.store.db import ping, session_scope

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2.0  # as READY_CHECK_TIMEOUT_S, the broker client's own timeout


@router.get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


def _database(state: AppState) -> None:
    with session_scope(state.sessions) as session:
        ping(session)


def _broker(state: AppState) -> None:
    # Celery's broker: Redis (possibly another database or host) or RabbitMQ.
    state.readiness.broker.ping(state.settings.broker_url)


async def _check(name: str, probe: Any) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure makes the service not ready; say which
        # The type only: the message names hosts, ports and users (the log has it all).
        log.warning("readiness check %s failed: %r", name, exc)
        return name, {"ok": False, "error": type(exc).__name__}
    return name, {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


@router.get("/health/ready", summary="Database, Redis and broker reachable")
async def ready(state: StateDep) -> JsonResponse:
    async with state.readiness.lock:
        verdict = state.readiness.cached()
        if verdict is None:
            verdict = await _probe(state)
            state.readiness.store(verdict)
    ok, checks = verdict
    return JsonResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )


async def _probe(state: AppState) -> tuple[bool, dict[str, dict[str, Any]]]:
    probes: list[tuple[str, Any]] = [
        ("database", lambda: run_in_threadpool(_database, state)),
        ("redis", state.redis_async.ping),
    ]
    if state.settings.executor == "celery":
        probes.append(("broker", lambda: run_in_threadpool(_broker, state)))
    checks = dict(await asyncio.gather(*(_check(n, p) for n, p in probes)))
    return all(c["ok"] for c in checks.values()), checks


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep, request: Request) -> Response:
    if not state.settings.api_metrics_public:
        await authenticate(state, api_key(request.headers), scopes_for())  # admin only
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")
