"""60 s soak in CI against a served API (10 minutes: bench/soak_bench.py): no errors, nothing
lost, memory bounded, feeds served warm from the cache within a loose latency bound."""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.soak import DEFAULT_RATE, MAX_RSS_GROWTH_KB, run_soak
from harness.world import seeded_database
from tests.conftest import PG_ADMIN_URL

DURATION_S = float(os.environ.get("RECGEN_SOAK_S", "60"))
RATE = float(os.environ.get("RECGEN_SOAK_RPS", str(DEFAULT_RATE)))
# Bounds for CI on a shared, busy 2-core machine (the client, the served API, the worker,
# Redis and PostgreSQL share it, often beside a training run); RSS: MAX_RSS_GROWTH_KB.
# The feed's target is p99 <= 5 ms (at 1,000 requests/s: bench/api_bench.py); the 10-minute
# soak (bench/soak_bench.py) reports its p99 against that 5 ms on a quiet machine. Here the
# bound only has to hold on a loaded machine with margin (at 50 requests/s and load average
# 4-6 the served feed measured p99 17-27 ms) and still catch a real regression: the 44 ms
# Nagle/delayed-ACK stall of the asyncio + h11 stack puts every request near 44 ms, and the
# in-process test client this soak used before gave p99 48-193 ms.
MAX_FEED_P99_MS = 50.0


def test_soak_mixed_load(tmp_path: Path) -> None:
    with seeded_database(PG_ADMIN_URL) as db_url:
        figures = run_soak(DURATION_S, db_url=db_url, redis_base="redis://127.0.0.1:6379",
                           tmp=tmp_path, rate=RATE)
    print("\nsoak:", json.dumps({k: v for k, v in figures.items() if k != "memory"}))
    expected = {"feed": 200, "events": 202, "generate": 202}
    for kind, counts in figures["statuses"].items():
        assert set(counts) == {expected[kind]}, (kind, counts)
    assert figures["requests"]["feed"] > 100
    # Every feed was warm before the load and every answer came from the cache: the latency
    # below is that of serving a ready feed, not of "refreshing" answers.
    assert figures["warm_up"]["ready"] == figures["warm_up"]["users"], figures["warm_up"]
    assert set(figures["feed_states"]) == {"ready"}, figures["feed_states"]
    assert figures["events_missing"] == 0
    assert figures["api_rss_growth_kb"] <= MAX_RSS_GROWTH_KB, figures["memory"]
    assert figures["worker_rss_growth_kb"] <= MAX_RSS_GROWTH_KB, figures["memory"]
    assert figures["latency_ms"]["feed"]["p99"] <= MAX_FEED_P99_MS, figures["latency_ms"]
    # The server's own histogram saw exactly the feed requests the client sent under load.
    server = figures["feed_latency_server"]
    assert server["requests"] == figures["requests"]["feed"], server
    assert 0.0 < server["share_within_5ms"] <= 1.0 and server["p99_at_most_ms"] > 0, server
