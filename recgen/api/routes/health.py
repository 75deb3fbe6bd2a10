"""Liveness, readiness (database, Redis, broker) and Prometheus metrics; no auth (probes)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from recgen.api.deps import StateDep
from recgen.api.errors import JsonResponse
from recgen.api.state import AppState
from recgen.runtime.celery_config import ping_broker
from recgen.store.db import ping, session_scope

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2.0


@router.get("/health/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


def _database(state: AppState) -> None:
    with session_scope(state.sessions) as session:
        ping(session)


def _broker(state: AppState) -> None:
    # Celery's broker: Redis (possibly another database or host) or RabbitMQ.
    ping_broker(state.settings.broker_url, CHECK_TIMEOUT_S)


async def _check(name: str, probe: Any) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure makes the service not ready; say which
        return name, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return name, {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


@router.get("/health/ready", summary="Database, Redis and broker reachable")
async def ready(state: StateDep) -> JsonResponse:
    probes: list[tuple[str, Any]] = [
        ("database", lambda: run_in_threadpool(_database, state)),
        ("redis", state.redis_async.ping),
    ]
    if state.settings.executor == "celery":
        probes.append(("broker", lambda: run_in_threadpool(_broker, state)))
    checks = dict(await asyncio.gather(*(_check(n, p) for n, p in probes)))
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")
