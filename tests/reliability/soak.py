"""A bounded soak: mixed feed reads, event batches and generation requests against the real API
app (in process), a real Celery worker process (light engine), Redis and PostgreSQL.

Shared by tests/reliability/test_soak.py (60 s in CI) and bench/soak_bench.py (10 minutes).
Figures: request counts and statuses per kind, latency percentiles, RSS of the API process
and of the worker's process tree over time, and whether every accepted event was stored.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from recgen.api.app import create_app
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.experiments import ensure_users
from recgen.vectors.testing import random_item_vectors
from tests.reliability.world import (
    PRODUCTS,
    api_settings,
    headers,
    purged,
    stored_event_ids,
)
from workers.process import celery_worker

USERS = 30
SAMPLE_EVERY_S = 5.0
DRAIN_TIMEOUT_S = 120.0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kb(pid: int) -> int:
    """RSS of a process and its direct children (the Celery parent and its pool)."""
    total = rss_kb(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                total += rss_kb(int(entry.name))
    return total


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)} | {
        "max": round(float(ms.max()), 2)
    }


def run_soak(duration_s: float, *, db_url: str, redis_base: str, tmp: Path) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    prefix = f"rel-soak-{run}"
    with session_scope(session_factory(make_engine(db_url))) as session:
        ensure_users(session, user_ids=list(range(1, USERS + 1)))
    random_item_vectors(PRODUCTS).save(tmp / "indexes" / "items")
    env = {
        "RECGEN_ENV": "test",
        "RECGEN_DATABASE_URL": db_url,
        "RECGEN_REDIS_URL": f"{redis_base}/10",
        "RECGEN_BROKER_URL": f"{redis_base}/11",
        "RECGEN_RESULT_BACKEND": f"{redis_base}/12",
        "RECGEN_INDEX_DIR": str(tmp / "indexes"),
        "RECGEN_CACHE_PREFIX": prefix,
        "RECGEN_CELERY_QUEUE": prefix,
        "RECGEN_TORCH_THREADS": "1",
    }
    settings = api_settings(db_url, redis_base, prefix, redis_url=f"{redis_base}/10",
                            broker_url=f"{redis_base}/11", result_backend=f"{redis_base}/12",
                            api_generate_per_minute=100_000)
    rng = random.Random(0)
    latency: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    accepted_events: list[str] = []
    memory: list[dict[str, float]] = []
    with purged(settings.redis_url, prefix), celery_worker(
        env, tmp / "soak-worker.log", include=["tests.reliability.light_engine"]
    ) as worker, TestClient(create_app(settings), headers=headers()) as client:
        started = next_sample = time.monotonic()
        while (now := time.monotonic()) - started < duration_s:
            if now >= next_sample:
                memory.append({"t_s": round(now - started, 1), "api_kb": rss_kb(os.getpid()),
                               "worker_kb": tree_rss_kb(worker.pid)})
                next_sample += SAMPLE_EVERY_S
            user = rng.randint(1, USERS)
            roll = rng.random()
            t0 = time.perf_counter()
            if roll < 0.80:
                kind = "feed"
                response = client.get(f"/v1/feed/{user}")
            elif roll < 0.95:
                kind = "events"
                batch = [{"event_id": f"soak-{run}-{uuid.uuid4().hex[:12]}", "user_id": user,
                          "product_id": rng.choice(PRODUCTS).product_id,
                          "kind": rng.choice(["view", "click", "add_to_cart", "purchase"])}
                         for _ in range(5)]
                batch.append(batch[0])  # a duplicate in every batch
                response = client.post("/v1/events", json={"events": batch})
                if response.status_code == 202:
                    accepted_events += [e["event_id"] for e in batch]
            else:
                kind = "generate"
                products = [p.product_id for p in rng.sample(PRODUCTS, 3)]
                response = client.post("/v1/generate",
                                       json={"user_id": user, "product_ids": products})
            latency[kind].append(time.perf_counter() - t0)
            statuses[kind][response.status_code] += 1
        elapsed = time.monotonic() - started
        memory.append({"t_s": round(elapsed, 1), "api_kb": rss_kb(os.getpid()),
                       "worker_kb": tree_rss_kb(worker.pid)})
        wanted = set(accepted_events)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while (stored := stored_event_ids(db_url, sorted(wanted))) != wanted:
            if time.monotonic() > deadline:
                break
            time.sleep(1.0)
        drain_s = DRAIN_TIMEOUT_S - max(0.0, deadline - time.monotonic())
    warm = memory[min(len(memory) - 1, max(1, len(memory) // 4))]
    return {
        "duration_s": round(elapsed, 1),
        "requests": {k: sum(v.values()) for k, v in statuses.items()},
        "statuses": {k: dict(v) for k, v in statuses.items()},
        "rps": round(sum(len(v) for v in latency.values()) / elapsed, 1),
        "latency_ms": {k: _percentiles(v) for k, v in latency.items()},
        "events_accepted": len(wanted),
        "events_missing": len(wanted - stored),
        "events_drain_s": round(drain_s, 1),
        "memory": memory,
        "api_rss_growth_kb": memory[-1]["api_kb"] - warm["api_kb"],
        "worker_rss_growth_kb": memory[-1]["worker_kb"] - warm["worker_kb"],
    }
