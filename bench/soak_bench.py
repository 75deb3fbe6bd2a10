"""Soak benchmark: mixed feed reads, events and generation requests for N seconds (default
600) against the served API (`recgen serve --workers 1`), a real Celery worker, Redis and a
fresh PostgreSQL database.

    PYTHONPATH=. python bench/soak_bench.py --out var/bench/soak.json [--seconds 600] [--rps 50]

Writes the figures (statuses, feed states, latency percentiles, RSS over time, events stored)
with the machine, settings, commit and targets: feed p99 <= 5 ms, no non-2xx answer, every
accepted event stored, RSS growth after warm-up within the bound (API process, worker tree).
Same runner (harness/soak.py) as the 60 s CI soak (tests/reliability/test_soak.py). The feed's
5 ms is the API's target at 1,000 requests/s (bench/api_bench.py); the soak checks it over a
long mixed run at ``--rps`` (one sequential client), so run it on a quiet machine.
Exit status 1 with ``--strict`` when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PG_ADMIN_URL, git_commit
from harness.soak import DEFAULT_RATE, MAX_RSS_GROWTH_KB, run_soak
from harness.world import seeded_database

FEED_P99_TARGET_MS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rps", type=float, default=DEFAULT_RATE,
                        help="requests/s of the whole mix (0: as fast as answers come)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    commit = git_commit()
    print(f"soak: {args.seconds:.0f} s of mixed load at {args.rps:g} requests/s ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp, seeded_database(PG_ADMIN_URL) as db_url:
        figures = run_soak(args.seconds, db_url=db_url, redis_base=args.redis, tmp=Path(tmp),
                           rate=args.rps)
    lat = figures["latency_ms"].get("feed", {})
    non_2xx = sum(n for counts in figures["statuses"].values()
                  for status, n in counts.items() if not 200 <= status < 300)
    targets = {
        "feed_p99_le_5ms": lat.get("p99", float("inf")) <= FEED_P99_TARGET_MS,
        "no_non_2xx": non_2xx == 0,
        "events_missing_0": figures["events_missing"] == 0,
        "api_rss_growth_le_40mb": figures["api_rss_growth_kb"] <= MAX_RSS_GROWTH_KB,
        "worker_rss_growth_le_40mb": figures["worker_rss_growth_kb"] <= MAX_RSS_GROWTH_KB,
    }
    result = {
        "benchmark": "soak",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "load_avg": os.getloadavg()},
        "settings": {"seconds": args.seconds, "rps": args.rps,
                     "mix": "80% feed, 15% events x6, 5% generate x3", "served": figures["served"],
                     "users": figures["warm_up"]["users"], "max_rss_growth_kb": MAX_RSS_GROWTH_KB},
        "targets": targets,
        "figures": figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"soak done: {sum(figures['requests'].values())} requests, {figures['rps']} rps, "
          f"feed p99 {lat.get('p99')} ms ({figures['feed_ready_share']:.1%} ready; server side "
          f"{figures['feed_latency_server'].get('share_within_5ms', 0):.1%} within 5 ms, p99 <= "
          f"{figures['feed_latency_server'].get('p99_at_most_ms')} ms), "
          f"non-2xx {non_2xx}, events missing {figures['events_missing']}, "
          f"RSS growth api {figures['api_rss_growth_kb']} kB / worker "
          f"{figures['worker_rss_growth_kb']} kB -> {args.out}")
    missed = [name for name, met in targets.items() if not met]
    if missed:
        print(f"soak: targets missed: {', '.join(missed)}")
        if args.strict:
            sys.exit(1)


if __name__ == "__main__":
    main()
