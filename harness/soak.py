"""A bounded soak: mixed feed reads, event batches and generation requests against the API as
it is served (``recgen serve --workers 1``: uvicorn on uvloop + httptools, its own process), a
real Celery worker process (light engine), Redis and PostgreSQL.

Shared by tests/reliability/test_soak.py (60 s in CI) and bench/soak_bench.py (10 minutes).
One keep-alive HTTP connection sends the requests one after another at ``rate`` requests/s
(paced: request k is sent at start + k / rate, at once when the previous answer came later;
0: as fast as answers come), so a latency is the client's round trip over loopback to a real
server. The default rate is what one light worker stores the events of (15% of requests are
event batches) on a busy 2-core machine: the API's own throughput is measured by
bench/api_bench.py, not here. Before the load, every user's feed is
warmed through the API (its first request enqueues the refresh; the worker writes the feed),
so feed latencies measure serving from the cache; each feed answer's ``state`` is counted.
Figures: request counts and statuses per kind, feed states, latency percentiles per kind, RSS
of the API server process and of the worker's process tree over time, and whether every
accepted event was stored. The client's latencies include its own cost (httpx in Python), so
the feed's latency is also read from the server's own histogram
(``recgen_http_request_duration_seconds``, first byte in to last byte out) over the same load.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from harness.catalog import random_item_vectors
from harness.served import served_api
from harness.worker_process import celery_worker
from harness.world import PRODUCTS, api_settings, headers, purged, settings_env, stored_event_ids
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.experiments import ensure_users
from recgen.store.repos.interactions import add_interactions

USERS = 30
SAMPLE_EVERY_S = 5.0
DRAIN_TIMEOUT_S = 120.0
WARM_TIMEOUT_S = 90.0
API_WORKERS = 1
DEFAULT_RATE = 50.0  # requests/s of the whole mix
MAX_RSS_GROWTH_KB = 40_000  # after warm-up, for the API process and for the worker tree
FEED_ROUTE = "/v1/feed/{user_id}"
SERVED = ("recgen serve --workers 1 (uvicorn, uvloop + httptools); one keep-alive httpx "
          "client, sequential paced requests; one Celery worker process (light engine)")


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


def feed_histogram(client: httpx.Client) -> dict[float, float]:
    """The API's cumulative histogram of answered feed requests: upper bound (s) -> count."""
    counts: dict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(client.get("/metrics").text):
        if family.name != "recgen_http_request_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_bucket") and labels.get("route") == FEED_ROUTE:
                counts[float(labels["le"])] += sample.value
    return dict(counts)


def server_feed_latency(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """The feed requests answered between two histogram reads: their count, the share within
    5 ms, and the smallest bucket bound holding 99 % of them (ms; inf when only +Inf does)."""
    window = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = window.get(float("inf"), 0.0)
    if total == 0:
        return {"requests": 0}
    p99 = next(bound for bound, n in window.items() if n >= 0.99 * total)
    return {
        "requests": int(total),
        "share_within_5ms": round(window.get(0.005, 0.0) / total, 4),
        "p99_at_most_ms": p99 * 1000.0,
    }


def _warm_feeds(client: httpx.Client) -> dict[str, Any]:
    """GET every user's feed until the worker has written it ("ready"), or WARM_TIMEOUT_S."""
    started = time.monotonic()
    pending = set(range(1, USERS + 1))
    requests = 0
    while pending and time.monotonic() - started < WARM_TIMEOUT_S:
        for user in sorted(pending):
            response = client.get(f"/v1/feed/{user}")
            requests += 1
            if response.status_code == 200 and response.json()["state"] == "ready":
                pending.discard(user)
        if pending:
            time.sleep(0.5)
    return {"users": USERS, "ready": USERS - len(pending), "requests": requests,
            "seconds": round(time.monotonic() - started, 1)}


def run_soak(duration_s: float, *, db_url: str, redis_base: str, tmp: Path,
             rate: float = DEFAULT_RATE) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    prefix = f"rel-soak-{run}"
    with session_scope(session_factory(make_engine(db_url))) as session:
        ensure_users(session, user_ids=list(range(1, USERS + 1)))
        # One stored view each: a user without history gets the cold-start feed and no
        # refresh, and the soak measures serving users' own ready feeds.
        add_interactions(session, events=[
            {"event_id": f"soak-history-{u}", "user_id": u,
             "product_id": PRODUCTS[u % len(PRODUCTS)].product_id, "kind": "view"}
            for u in range(1, USERS + 1)
        ])
    random_item_vectors(PRODUCTS).save(tmp / "indexes" / "items")
    settings = api_settings(db_url, redis_base, prefix, redis_url=f"{redis_base}/10",
                            broker_url=f"{redis_base}/11", result_backend=f"{redis_base}/12",
                            api_generate_per_minute=100_000)
    # The API and the worker read the same settings (the API's keys are in the database).
    env = {"RECGEN_ENV": "test", **settings_env(settings),
           "RECGEN_INDEX_DIR": str(tmp / "indexes"), "RECGEN_TORCH_THREADS": "1"}
    rng = random.Random(0)
    latency: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    feed_states: dict[str, int] = defaultdict(int)
    accepted_events: list[str] = []
    resend: dict[str, Any] | None = None
    memory: list[dict[str, float]] = []
    with purged(settings.redis_url, prefix), celery_worker(
        env, tmp / "soak-worker.log", include=["harness.light_engine"]
    ) as worker, served_api(env, workers=API_WORKERS, log_path=tmp / "soak-api.log") as api, \
            httpx.Client(base_url=api.url, headers=headers(), timeout=30.0) as client:
        warm_up = _warm_feeds(client)
        histogram_before = feed_histogram(client)
        started = next_sample = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - started < duration_s:
            if rate > 0 and (wait := started + sent / rate - now) > 0:
                time.sleep(wait)
                now = time.monotonic()
            sent += 1
            if now >= next_sample:
                memory.append({"t_s": round(now - started, 1), "api_kb": tree_rss_kb(api.pid),
                               "worker_kb": tree_rss_kb(worker.pid)})
                next_sample += SAMPLE_EVERY_S
            user = rng.randint(1, USERS)
            roll = rng.random()
            if roll < 0.80:
                kind = "feed"
                t0 = time.perf_counter()
                response = client.get(f"/v1/feed/{user}")
                latency[kind].append(time.perf_counter() - t0)
                if response.status_code == 200:
                    feed_states[response.json()["state"]] += 1
            elif roll < 0.95:
                kind = "events"
                batch = [{"event_id": f"soak-{run}-{uuid.uuid4().hex[:12]}", "user_id": user,
                          "product_id": rng.choice(PRODUCTS).product_id,
                          "kind": rng.choice(["view", "click", "add_to_cart", "purchase"])}
                         for _ in range(5)]
                # A resend in every batch: the previous accepted batch's first event (one id
                # twice in one batch is refused, naming both).
                if resend is not None:
                    batch.append(resend)
                t0 = time.perf_counter()
                response = client.post("/v1/events", json={"events": batch})
                latency[kind].append(time.perf_counter() - t0)
                if response.status_code == 202:
                    accepted_events += [str(e["event_id"]) for e in batch]
                    resend = batch[0]
            else:
                kind = "generate"
                products = [p.product_id for p in rng.sample(PRODUCTS, 3)]
                t0 = time.perf_counter()
                response = client.post("/v1/generate",
                                       json={"user_id": user, "product_ids": products})
                latency[kind].append(time.perf_counter() - t0)
            statuses[kind][response.status_code] += 1
        elapsed = time.monotonic() - started
        server_feed = server_feed_latency(histogram_before, feed_histogram(client))
        memory.append({"t_s": round(elapsed, 1), "api_kb": tree_rss_kb(api.pid),
                       "worker_kb": tree_rss_kb(worker.pid)})
        wanted = set(accepted_events)
        missing = set(wanted)
        drain_started = time.monotonic()
        while missing and time.monotonic() - drain_started < DRAIN_TIMEOUT_S:
            missing -= stored_event_ids(db_url, sorted(missing))
            if missing:
                time.sleep(1.0)
        drain_s = time.monotonic() - drain_started
    warm = memory[min(len(memory) - 1, max(1, len(memory) // 4))]
    feeds = sum(feed_states.values())
    return {
        "duration_s": round(elapsed, 1),
        "served": SERVED,
        "rate_target": rate,
        "warm_up": warm_up,
        "requests": {k: sum(v.values()) for k, v in statuses.items()},
        "statuses": {k: dict(v) for k, v in statuses.items()},
        "feed_states": dict(feed_states),
        "feed_ready_share": round(feed_states.get("ready", 0) / feeds, 4) if feeds else 0.0,
        "rps": round(sum(len(v) for v in latency.values()) / elapsed, 1),
        "latency_ms": {k: _percentiles(v) for k, v in latency.items()},
        "feed_latency_server": server_feed,
        "events_accepted": len(wanted),
        "events_missing": len(missing),
        "events_drain_s": round(drain_s, 1),
        "memory": memory,
        "api_rss_growth_kb": memory[-1]["api_kb"] - warm["api_kb"],
        "worker_rss_growth_kb": memory[-1]["worker_kb"] - warm["worker_kb"],
    }
