"""Feed refresh benchmark: N simulated users x feed_size products, text + image, through real
Celery worker processes on the Redis broker, with the real models, profiles and FAISS.

    PYTHONPATH=. python bench/feed_refresh_bench.py --users 10000 --workers 2 \
        --out var/bench/feed_refresh.json

Setup (not timed): a fresh PostgreSQL database, the catalog, simulated users and their events
(``recgen simulate users``), profiles, FAISS indexes and personas (``recgen index rebuild``),
then ``--workers`` worker processes (one torch thread each) on a queue of this run alone.

Timed: every user's feed refreshed by ``recgen.refresh_feeds`` tasks of ``--chunk`` users
(the batch window in which (product, persona) requests are merged), from the first send to
the last result.

Overhead accounting: each task reports the seconds its job spent per phase. Worker capacity
is wall time x processes; everything not spent inside a job (broker transit, (de)serialising,
result backend, acks, idle tails) plus the job's own Redis calls is "Celery + Redis overhead".
A Celery round trip is also measured directly with empty tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select, text
from tqdm import tqdm

from bench.common import PG_ADMIN_URL, git_commit
from harness.database import scratch_database
from harness.worker_process import celery_worker
from recgen.catalog.ingest import load_catalog
from recgen.catalog.styles import read_styles
from recgen.core.config import PROJECT_ROOT, load_settings
from recgen.generation.cache import RedisAssetCache
from recgen.jobs.names import TASK_REFRESH_FEEDS
from recgen.runtime.celery_config import make_celery_client
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import GeneratedAssetRow
from recgen.store.repos.products import upsert_products


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--feed-size", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--chunk", type=int, default=50, help="users per refresh task")
    parser.add_argument("--personas", type=int, default=32)
    parser.add_argument("--products", type=int, default=0, help="catalog subset (0 = all)")
    parser.add_argument("--views-per-user", type=float, default=10.0)
    parser.add_argument("--no-persona-sharing", action="store_true")
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=PROJECT_ROOT / "var/bench/indexes",
        help="kept between runs: item vectors are reused when they match",
    )
    parser.add_argument("--text-model", type=Path, help="default: settings.text_model_path")
    parser.add_argument("--image-model", type=Path, help="default: settings.image_model_path")
    parser.add_argument(
        "--image-classifier", type=Path,
        help="default: settings.image_classifier_path, else the one the image pipeline names"
    )
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def recgen_cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", "from recgen.cli import main; main()", *args],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
        check=True,
    )


def setup_world(args: argparse.Namespace, env: dict[str, str], db_url: str) -> int:
    upgrade(db_url)
    factory = session_factory(make_engine(db_url))
    data_dir = load_settings().data_dir
    styles = data_dir / "myntra" / "styles.csv"
    if args.products:
        with session_scope(factory) as session:
            upsert_products(session, products=read_styles(styles).products[: args.products])
    else:
        load_catalog(
            factory, styles=styles, images_dir=data_dir / "myntra" / "images", batch_size=2000
        )
    recgen_cli(
        env,
        "simulate",
        "users",
        "--users",
        str(args.users),
        "--views-per-user",
        str(args.views_per_user),
    )
    recgen_cli(env, "index", "rebuild", "--personas", str(args.personas))
    with session_scope(factory) as session:
        return int(session.scalar(text("SELECT count(*) FROM products")) or 0)


def round_trip_ms(client: Any, queue: str, n: int = 30) -> float:
    """Median send -> result time of an empty refresh task: the Celery + Redis floor."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.send_task(
            TASK_REFRESH_FEEDS, kwargs={"user_ids": []}, queue=queue, ignore_result=False
        ).get(timeout=60)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def refresh_all(
    client: Any, queue: str, users: list[int], chunk: int
) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    pending = [
        client.send_task(
            TASK_REFRESH_FEEDS,
            kwargs={"user_ids": users[i : i + chunk]},
            queue=queue,
            ignore_result=False,  # the task keeps none by default
        )
        for i in range(0, len(users), chunk)
    ]
    results = []
    with tqdm(total=len(users), desc="feed refresh", unit="users") as bar:
        for result in pending:
            summary = result.get(timeout=3600)
            results.append(summary)
            bar.update(summary["users"])
    return time.perf_counter() - started, results


def main() -> None:
    args = parse_args()
    run = uuid.uuid4().hex[:8]
    load_before = os.getloadavg()
    with scratch_database(PG_ADMIN_URL, tag="bench") as db_url:
        env = {
            "RECGEN_ENV": "test",
            "RECGEN_DATABASE_URL": db_url,
            "RECGEN_INDEX_DIR": str(args.index_dir),
            "RECGEN_CACHE_PREFIX": f"recgen-bench-{run}",
            "RECGEN_CELERY_QUEUE": f"recgen-bench-{run}",
            "RECGEN_TORCH_THREADS": "1",
            "RECGEN_FEED_SIZE": str(args.feed_size),
            "RECGEN_PERSONA_SHARING": "false" if args.no_persona_sharing else "true",
        }
        for flag, name in (
            ("text_model", "TEXT_MODEL_PATH"),
            ("image_model", "IMAGE_MODEL_PATH"),
            ("image_classifier", "IMAGE_CLASSIFIER_PATH"),
        ):
            if getattr(args, flag) is not None:
                env[f"RECGEN_{name}"] = str(getattr(args, flag).resolve())
        products = setup_world(args, env, db_url)
        os.environ.update(env)
        settings = load_settings()
        client = make_celery_client(settings)
        cache = RedisAssetCache(
            redis.Redis.from_url(settings.redis_url),
            settings.cache_prefix,
            settings.asset_ttl_seconds,
            settings.asset_ttl_jitter,
        )
        log_path = PROJECT_ROOT / "var" / "bench" / f"worker-{run}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with celery_worker(env, log_path, concurrency=args.workers):
                rtt = round_trip_ms(client, settings.celery_queue)
                users = list(range(1, args.users + 1))
                wall, results = refresh_all(client, settings.celery_queue, users, args.chunk)
            with session_scope(session_factory(make_engine(db_url))) as session:
                audit_rows = int(
                    session.scalar(select(func.count()).select_from(GeneratedAssetRow)) or 0
                )
            feeds_written = sum(1 for age in cache.feed_ages(users).values() if age is not None)
        finally:
            cache.purge()
    totals: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for summary in results:
        totals.update({k: v for k, v in summary.items() if isinstance(v, int)})
        seconds.update(summary["seconds"])
    capacity = wall * args.workers
    outside_jobs = max(0.0, capacity - seconds["job_s"])
    overhead = outside_jobs + seconds["cache_s"]
    figures = {
        "feed_refresh_10k_seconds": round(wall, 2) if args.users == 10_000 else None,
        "feed_refresh_seconds": round(wall, 2),
        "users": args.users,
        "users_per_s": round(args.users / wall, 2),
        "assets_served": totals["requested"],
        "assets_per_s": round(totals["requested"] / wall, 2),
        "assets_generated": totals["generated"],
        "generated_assets_per_s": round(totals["generated"] / wall, 2),
        "reuse_share": round(totals["reused"] / totals["requested"], 4)
        if totals["requested"]
        else None,
        "audit_rows": audit_rows,
        "feeds_written": feeds_written,
        "failed": totals["failed"],
        "rejected_by_gate": totals["rejected"],
        "celery_overhead_share": round(overhead / capacity, 4),
        "overhead_breakdown_s": {
            "worker_capacity_s": round(capacity, 2),
            "outside_jobs_s": round(outside_jobs, 2),
            "redis_cache_in_jobs_s": round(seconds["cache_s"], 2),
            **{k: round(v, 2) for k, v in seconds.items()},
        },
        "celery_round_trip_ms": round(rtt, 2),
        "settings": {
            "workers": args.workers,
            "torch_threads": 1,
            "chunk": args.chunk,
            "feed_size": args.feed_size,
            "personas": args.personas,
            "products": products,
            "persona_sharing": not args.no_persona_sharing,
            "broker": settings.broker_url,
            "generation_batch_sizes": {
                "text": settings.generation_text_batch_size,
                "image": settings.generation_image_batch_size,
            },
            "text_model": str(settings.text_model_path),
            "image_model": str(settings.image_model_path),
            "views_per_user": args.views_per_user,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "git_commit": git_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(
        f"feed refresh: {args.users} users in {wall:.1f} s ({figures['users_per_s']} users/s, "
        f"{figures['assets_per_s']} assets/s, reuse {figures['reuse_share']}, "
        f"Celery+Redis overhead {figures['celery_overhead_share']:.1%}, "
        f"round trip {rtt:.2f} ms) -> {args.out}"
    )


if __name__ == "__main__":
    main()
