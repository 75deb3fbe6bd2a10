"""Soak benchmark: mixed feed reads, events and generation requests for N seconds (default
600) against the API, a real Celery worker, Redis and a fresh PostgreSQL database.

    PYTHONPATH=. python bench/soak_bench.py --out var/bench/soak.json [--seconds 600]

Writes the figures (statuses, latency percentiles, RSS over time, events stored) with the
machine, settings and commit. Same runner as the 60 s CI soak (tests/reliability/soak.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import PG_ADMIN_URL  # noqa: E402
from tests.reliability.soak import run_soak  # noqa: E402
from tests.reliability.world import fresh_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"soak: {args.seconds:.0f} s of mixed load ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(PG_ADMIN_URL) as db_url:
        figures = run_soak(args.seconds, db_url=db_url, redis_base=args.redis, tmp=Path(tmp))
    result = {
        "benchmark": "soak",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "load_avg": os.getloadavg()},
        "settings": {"seconds": args.seconds, "mix": "80% feed, 15% events x6, 5% generate x3"},
        "figures": figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    lat = figures["latency_ms"].get("feed", {})
    print(f"soak done: {sum(figures['requests'].values())} requests, {figures['rps']} rps, "
          f"feed p99 {lat.get('p99')} ms, events missing {figures['events_missing']}, "
          f"RSS growth api {figures['api_rss_growth_kb']} kB / worker "
          f"{figures['worker_rss_growth_kb']} kB -> {args.out}")


if __name__ == "__main__":
    main()
