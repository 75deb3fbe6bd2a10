"""Feed serving benchmark: p99 at 1,000 requests/s and saturated throughput vs a bare endpoint.

    PYTHONPATH=. python bench/api_bench.py --out var/bench/api_bench.json

On loopback, in one run: a scratch PostgreSQL database and Redis key prefix get products, an
admin key, a running 50/50 experiment and warm feeds for ``--users`` users (``--items`` items,
generated texts and image keys cached). Two servers start with the same uvicorn settings
(``recgen.cli.api.uvicorn_options``: uvloop + httptools, ``--workers``, no access log):

* ``recgen serve`` - the real API (auth, assignment, one Lua round trip, exposure logging, the
  background exposure drain to PostgreSQL);
* a bare FastAPI app whose one endpoint GETs the same user's feed bytes from Redis (one round
  trip) and returns them.

For each worker count in ``--workers`` (default 1, then 2; the first gives the headline: one
worker is what ``recgen serve`` runs by default, ``api_workers``, and what docker-compose
serves), wrk measures (0) the feed on one connection at ~40 requests/s (the 44 ms
Nagle/delayed-ACK stall of the asyncio + h11 stack would put p50 near 44 ms), (1) the feed and
then the bare endpoint at a paced ~1,000 requests/s (per-connection delay) for the p99s, and
the same Redis GET served by a raw ASGI app without a framework (``floor``: the least a request
that makes the feed's one Redis round trip can cost on this machine), and (2) both servers
saturated, alternately, twice each; the ratio uses the better run of each. With two workers the two
servers' processes and Redis, the drain and PostgreSQL share both cores, so the ratio compares
whole-machine cost per request (the feed's exposure rows stored by PostgreSQL included); with
one, the bare endpoint cannot use the second core while the feed's Redis script and exposure
writes can. The Nagle check holds for every worker count (the stall needs several workers).
Exit status 1 with ``--strict`` when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PG_ADMIN_URL, git_commit
from harness.database import scratch_database
from harness.served import free_port, serve_command, served
from recgen.core.keys import asset_key
from recgen.core.types import Product
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import utcnow
from recgen.store.repos.api_keys import create_api_key
from recgen.store.repos.experiments import create_experiment, start_experiment
from recgen.store.repos.products import upsert_products

REDIS_URL = os.environ.get("RECGEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
KEY = "rg_bench_" + uuid.uuid4().hex
# wrk script: rotate users, send the key, optionally pace, print a JSON summary at the end.
WRK_LUA = """
local users, pace, n = %(users)d, %(pace)d, 0
wrk.headers["X-API-Key"] = "%(key)s"
request = function()
  n = n + 1
  return wrk.format("GET", string.format("%(path)s", (n * 7919) %% users + 1))
end
if pace > 0 then delay = function() return pace end end
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON{"requests":%%d,"duration_us":%%d,"non2xx":%%d,'
    .. '"errors":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _feed_store() -> tuple[Any, str]:
    """The baselines' async Redis client and the key prefix of the seeded feed bytes, from the
    bench's environment. No socket timeout, as the API's own client (see
    recgen/api/redis_deadline.py)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(os.environ["BENCH_REDIS_URL"], socket_timeout=None)
    return client, f"{os.environ['BENCH_PREFIX']}:feed:"


def bare_app_factory() -> Any:
    """The baseline: one Redis GET of the user's feed bytes, nothing else."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    client, feed_key = _feed_store()
    app = FastAPI()

    @app.get("/bare/{user_id}")
    async def bare(user_id: int) -> Response:
        return Response(await client.get(f"{feed_key}{user_id}"), media_type="application/json")

    return app


def floor_app_factory() -> Any:
    """The floor: the bare endpoint's one Redis GET with no framework at all (raw ASGI)."""
    client, feed_key = _feed_store()
    headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan: nothing to start
        user_id = scope["path"].rsplit("/", 1)[-1]
        body = await client.get(f"{feed_key}{user_id}") or b""
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def seed(db_url: str, cache: RedisAssetCache, users: int, items: int) -> int:
    """Products, key, running experiment, warm feeds; returns the feed JSON size in bytes."""
    upgrade(db_url)
    products = [
        Product(
            pid,
            "Men",
            "Apparel",
            "Topwear",
            "Shirts",
            "Navy Blue",
            "Blue",
            "Fall",
            "Casual",
            f"Turtle Check Men Navy Blue Shirt {pid}",
        )
        for pid in range(1, 201)
    ]
    engine = make_engine(db_url)
    with session_scope(session_factory(engine)) as session:
        upsert_products(session, products=products)
        create_api_key(session, name="bench", scopes=["recommender"], key=KEY)
        row = create_experiment(
            session,
            name="bench",
            salt="bench",
            arms={"generated": 0.5, "stock": 0.5},
            traffic_share=1.0,
        )
        start_experiment(session, experiment=row, at=utcnow())
    engine.dispose()
    text_body = (
        "A breathable navy check shirt cut for easy weekend wear; soft cotton that "
        "keeps its shape wash after wash, and a colour that pairs with denim. "
    ) * 2
    feeds = []
    for persona in range(20):
        keys = {}
        for pid in range(1, 201):
            keys[asset_key("text", pid, model_version="bench", persona_id=persona)] = (
                text_body.encode()
            )
            keys[asset_key("image", pid, model_version="bench", persona_id=persona)] = b"P" * 1024
        cache.put_many(keys)
    for user in range(1, users + 1):
        persona = user % 20
        pids = [(user * 31 + i * 17) % 200 + 1 for i in range(items)]
        feeds.append(
            StoredFeed(
                user,
                time.time(),
                {"text": "bench", "image": "bench"},
                tuple(
                    StoredFeedItem(
                        p,
                        asset_key("text", p, model_version="bench", persona_id=persona),
                        asset_key("image", p, model_version="bench", persona_id=persona),
                        persona,
                    )
                    for p in pids
                ),
            )
        )
    for start in range(0, len(feeds), 500):
        cache.put_feeds(feeds[start : start + 500])
    return len(feeds[0].to_json())


@contextmanager
def server(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    # The bare app has no /health/live: its 404 says it is up.
    with served(command, env, port, live_statuses=(200, 404)) as proc:
        yield proc.url


@contextmanager
def sidecar(command: list[str] | None, env: dict[str, str]) -> Iterator[None]:
    if command is None:
        yield
        return
    proc = subprocess.Popen(
        command,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def wrk(
    url_base: str, path: str, *, users: int, connections: int, seconds: int, pace_ms: int = 0
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA % {"users": users, "pace": pace_ms, "key": KEY, "path": path})
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "2s",
                "-s",
                script.name,
                url_base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON"))
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON"))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    for q in ("p50", "p90", "p99", "max"):
        result[f"{q}_ms"] = result.pop(f"{q}_us") / 1000.0
    return result


# The figures given for every configuration after the headline one.
COMPARED = (
    "feed_p99_ms_at_1000rps",
    "bare_p99_ms_at_1000rps",
    "floor_p99_ms_at_1000rps",
    "feed_throughput_vs_bare",
)


def paced(url_base: str, path: str, *, users: int, rate: int) -> dict[str, Any]:
    """wrk at about ``rate`` requests/s over 10 connections, for the p99."""
    conns = 10
    probe = wrk(url_base, path, users=users, connections=conns, seconds=2, pace_ms=10)
    # Per-connection pacing: rate = conns / (delay + latency); solve for delay. wrk's delay is
    # whole milliseconds: rounding down errs toward a rate above ``rate`` rather than below.
    pace = max(1, math.floor(conns * 1000 / rate - probe["p50_ms"]))
    result = wrk(url_base, path, users=users, connections=conns, seconds=10, pace_ms=pace)
    result["connections"], result["delay_ms"] = conns, pace
    return result


def measure(workers: int, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """The three servers with ``workers`` uvicorn workers each: p99s, saturated throughputs."""
    from recgen.cli.api import uvicorn_options

    feed_port, bare_port, floor_port = free_port(), free_port(), free_port()

    def baseline_command(factory: str, port: int) -> list[str]:
        options = uvicorn_options(host="127.0.0.1", port=port, workers=workers, access_log=False)
        return [
            sys.executable,
            "-c",
            f"import sys, uvicorn; sys.path.insert(0, 'bench'); uvicorn.run({factory!r}, "
            f"**{options!r})",
        ]

    drain_cmd = [
        "nice",
        "-n",
        str(args.drain_nice),
        sys.executable,
        "-c",
        "from recgen.cli import main; main()",
        "ab",
        "drain",
        "--follow",
    ]
    bare_cmd = baseline_command("api_bench:bare_app_factory", bare_port)
    floor_cmd = baseline_command("api_bench:floor_app_factory", floor_port)
    feed_path, bare_path = f"/v1/feed/%d?limit={args.items}", "/bare/%d"
    with (
        server(serve_command(feed_port, workers=workers), env, feed_port) as feed_url,
        server(bare_cmd, env, bare_port) as bare_url,
        server(floor_cmd, env, floor_port) as floor_url,
        sidecar(drain_cmd if args.drain == "process" else None, env),
    ):
        # Warm every worker's caches (keys, stock titles) and the connections.
        wrk(feed_url, feed_path, users=args.users, connections=8, seconds=2)
        wrk(bare_url, bare_path, users=args.users, connections=8, seconds=2)
        # One connection at ~40 req/s: the stall of the asyncio + h11 stack under
        # several workers (Nagle meets delayed ACK) puts every request near 44 ms.
        quiet = wrk(feed_url, feed_path, users=args.users, connections=1, seconds=3, pace_ms=25)
        feed_paced = paced(feed_url, feed_path, users=args.users, rate=args.rate)
        # The same pacing on the bare endpoint, and on the same Redis GET without a framework:
        # the p99 this machine gives a request that does nothing but one Redis round trip,
        # i.e. the floor under the feed's (which must make that round trip).
        bare_paced = paced(bare_url, bare_path, users=args.users, rate=args.rate)
        floor_paced = paced(floor_url, bare_path, users=args.users, rate=args.rate)
        print(
            f"  workers {workers}: paced p99 feed {feed_paced['p99_ms']:.2f} ms at "
            f"{feed_paced['rps']:.0f} req/s, bare {bare_paced['p99_ms']:.2f} ms at "
            f"{bare_paced['rps']:.0f} req/s, raw ASGI + one GET {floor_paced['p99_ms']:.2f} ms "
            f"at {floor_paced['rps']:.0f} req/s",
            flush=True,
        )
        runs: dict[str, list[dict[str, Any]]] = {"feed": [], "bare": []}
        for _ in range(2):
            for name, base, path in (("feed", feed_url, feed_path), ("bare", bare_url, bare_path)):
                run = wrk(
                    base, path, users=args.users, connections=args.connections, seconds=args.seconds
                )
                runs[name].append(run)
                print(f"  workers {workers}: saturated {name} {run['rps']:.0f} req/s", flush=True)
    # Each server's better run is its capacity. With several workers a run's rate depends on how
    # wrk's connections happen to split between them (the bare endpoint read 5,612 and 9,929
    # requests/s in one run's two tries), and a mean would credit the feed with the bare
    # endpoint's bad luck.
    feed_rps = max(r["rps"] for r in runs["feed"])
    bare_rps = max(r["rps"] for r in runs["bare"])
    return {
        "workers": workers,
        "feed_p99_ms_at_1000rps": feed_paced["p99_ms"],
        "feed_p50_ms_at_1000rps": feed_paced["p50_ms"],
        "feed_paced_rps": feed_paced["rps"],
        "bare_p99_ms_at_1000rps": bare_paced["p99_ms"],
        "bare_paced_rps": bare_paced["rps"],
        "floor_p99_ms_at_1000rps": floor_paced["p99_ms"],
        "floor_paced_rps": floor_paced["rps"],
        "feed_p50_ms_one_connection": quiet["p50_ms"],
        "feed_p99_ms_one_connection": quiet["p99_ms"],
        "feed_throughput_vs_bare": feed_rps / bare_rps,
        "feed_saturated_rps": feed_rps,
        "bare_saturated_rps": bare_rps,
        "runs": {
            "one_connection": quiet,
            "paced": feed_paced,
            "bare_paced": bare_paced,
            "floor_paced": floor_paced,
            **runs,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--workers",
        default="1,2",
        help="uvicorn worker counts to measure, comma-separated; the first gives the headline",
    )
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=8, help="per saturated run")
    parser.add_argument("--connections", type=int, default=32, help="saturated runs")
    parser.add_argument("--rate", type=int, default=1000, help="paced run target (req/s)")
    parser.add_argument(
        "--drain",
        choices=("process", "api"),
        default="process",
        help="exposure drain: a `recgen ab drain --follow` process, or in the API",
    )
    parser.add_argument(
        "--drain-nice",
        type=int,
        default=0,
        help="niceness of the drain process (>0 defers the drain under load)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    try:
        worker_counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers: comma-separated integers, got {args.workers!r}")
    if not worker_counts or min(worker_counts) < 1:
        parser.error(f"--workers: at least one count, each >= 1, got {args.workers!r}")

    prefix = f"recgen-bench-{uuid.uuid4().hex[:8]}"
    conn: redis.Redis[bytes] = redis.Redis.from_url(REDIS_URL)
    cache = RedisAssetCache(conn, prefix, ttl=3600, jitter=0.0)
    print(
        f"api_bench: seed, then per worker count ({args.workers}): paced feed, bare and raw GET, "
        "saturated feed and bare twice",
        flush=True,
    )
    started = time.perf_counter()
    configs: list[dict[str, Any]] = []
    try:
        with scratch_database(PG_ADMIN_URL, tag="bench") as db_url:
            feed_bytes = seed(db_url, cache, args.users, args.items)
            print(f"  seeded {args.users} feeds ({feed_bytes} bytes each)", flush=True)
            env = {
                "RECGEN_ENV": "test",
                "RECGEN_DATABASE_URL": db_url,
                "RECGEN_REDIS_URL": REDIS_URL,
                "RECGEN_CACHE_BACKEND": "redis",
                "RECGEN_CACHE_PREFIX": prefix,
                "RECGEN_EXECUTOR": "celery",
                "RECGEN_CELERY_QUEUE": f"{prefix}-queue",
                "BENCH_REDIS_URL": REDIS_URL,
                "BENCH_PREFIX": prefix,
                "RECGEN_EXPOSURE_DRAIN_IN_API": str(args.drain == "api").lower(),
            }
            for workers in worker_counts:
                configs.append(measure(workers, env, args))
            # Undrained exposures when the load stops (0: the drain kept up).
            backlog = int(conn.xlen(f"{prefix}:exposures"))
    finally:
        cache.purge()
        conn.close()
    head = configs[0]
    result = {
        **{k: v for k, v in head.items() if k not in ("runs", "workers")},
        # The other configurations' figures, named by worker count.
        **{f"{key}_{c['workers']}_workers": c[key] for c in configs[1:] for key in COMPARED},
        "targets": {
            "p99_le_5ms": head["feed_p99_ms_at_1000rps"] <= 5.0,
            "paced_rate_ge_950": head["feed_paced_rps"] >= 950,
            "ratio_ge_0.7": head["feed_throughput_vs_bare"] >= 0.7,
            "no_nagle_stall": all(c["feed_p50_ms_one_connection"] < 20.0 for c in configs),
        },
        "configurations": configs,
        "settings": {
            "workers": worker_counts,
            "headline_workers": head["workers"],
            "loop": "uvloop",
            "http": "httptools",
            "access_log": False,
            "users": args.users,
            "items_per_feed": args.items,
            "feed_bytes": feed_bytes,
            "saturated_connections": args.connections,
            "saturated_seconds": args.seconds,
            "wrk_threads": 1,
            "experiment": "50/50 generated vs stock, exposures logged and drained",
            "exposure_drain": args.drain,
            "drain_nice": args.drain_nice,
        },
        "exposure_stream_backlog_at_end": backlog,
        "commit": git_commit(short=True),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    summary = "; ".join(
        f"{c['workers']} workers: p99 {c['feed_p99_ms_at_1000rps']:.2f} ms (bare "
        f"{c['bare_p99_ms_at_1000rps']:.2f}, raw GET {c['floor_p99_ms_at_1000rps']:.2f}), feed "
        f"{c['feed_saturated_rps']:.0f} vs bare "
        f"{c['bare_saturated_rps']:.0f} req/s = {c['feed_throughput_vs_bare']:.2f}"
        for c in configs
    )
    print(f"api_bench: {summary}; {time.perf_counter() - started:.0f}s; wrote {args.out}")
    if args.strict and not all(result["targets"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
