"""Event folding benchmark: the worker's ``recgen.record_events`` job on PostgreSQL, a batch's
users folded in one call against one call per user, in the same run.

    PYTHONPATH=. python bench/events_bench.py --out var/bench/events_bench.json

Setup (not timed): a scratch PostgreSQL database with ``--products`` synthetic products,
``--users`` simulated users and their events, their profiles rebuilt and the user index built
(random item vectors of the text encoder's dimension, image vectors for every third product),
torch and FAISS at one thread each (the worker's defaults).

Timed, per batch shape (users x events per user, every event new): ``--batches`` calls of
``recgen.jobs.functions.record_events`` (store the events, skip resent ids, fold them into
profiles and the user index, commit), once with the service as the worker has it (the
batch's profiles read and written together) and once with a service that folds one user at a
time (sharing the first one's user index); the two alternate batch by batch, so both see the
same machine state. Figures per shape and
mode: this process's CPU and the wall time per batch (PostgreSQL's own CPU is in the wall time
only), events/s, and the per-user / batched ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PG_ADMIN_URL, git_commit
from harness.catalog import make_products, random_item_vectors
from harness.database import scratch_database
from recgen.core.config import Settings
from recgen.core.types import UserEvent
from recgen.experiments.simulator import Simulator, user_rows
from recgen.jobs.context import JobContext
from recgen.jobs.functions import record_events
from recgen.profiles.model import PROFILE_VERSION, ItemFeatures
from recgen.profiles.service import ProfileService
from recgen.retrieval.index import VectorIndex
from recgen.retrieval.item_vectors import MiniLMEncoder
from recgen.runtime.bootstrap import set_compute_threads
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users

SHAPES = ((1, 6), (10, 3), (50, 2), (100, 1))  # (users, events per user) per batch
KINDS = ("view", "click", "add_to_cart", "purchase")


class OneUserAtATime(ProfileService):
    """The service folding each user's events on their own (one profile read, write and index
    upsert per user): what folding a batch's users together saves."""

    def record_events(
        self, session: Session, *, events: Mapping[int, Sequence[UserEvent]]
    ) -> None:
        for user, user_events in events.items():
            super().record_events(session, events={user: user_events})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=60, help="timed batches per shape and mode")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if max(users for users, _ in SHAPES) > args.users:
        parser.error(f"--users must be at least {max(u for u, _ in SHAPES)}")
    return args


def prepare(db_url: str, args: argparse.Namespace) -> tuple[JobContext, JobContext, list[int]]:
    upgrade(db_url)
    products = make_products(args.products)
    items = ItemFeatures(products, random_item_vectors(
        products, text_dim=MiniLMEncoder.dimension, image_dim=64))
    sessions = session_factory(make_engine(db_url))
    simulator = Simulator(products, seed=7)
    users = simulator.users(args.users)
    with session_scope(sessions) as session:
        upsert_products(session, products=products)
        upsert_users(session, users=user_rows(users))
        add_interactions(session, events=list(simulator.events(users, views_per_user=5).as_dicts()))
    service = ProfileService(items, products)
    with session_scope(sessions) as session:
        built = service.rebuild_all(session)
    service.user_index = VectorIndex.build(built.user_ids, built.vectors,
                                           model_version=PROFILE_VERSION)

    def context(profiles: ProfileService) -> JobContext:
        # The fold needs sessions and profiles only; no engine or cache is touched.
        return JobContext(engine=None, cache=None, sessions=sessions,  # type: ignore[arg-type]
                          profiles=profiles)

    per_user = OneUserAtATime(items, products, user_index=service.user_index)
    return context(service), context(per_user), [p.product_id for p in products]


def main() -> None:
    args = parse_args()
    set_compute_threads(Settings(torch_threads=1, faiss_threads=1))
    rng = random.Random(0)
    shapes: dict[str, Any] = {}
    with scratch_database(PG_ADMIN_URL, tag="bench") as db_url:
        batched, per_user, product_ids = prepare(db_url, args)
        user_ids = list(range(1, args.users + 1))

        def batch(users: int, per: int) -> list[dict[str, Any]]:
            now = datetime.now(UTC).isoformat()
            return [{"event_id": uuid.uuid4().hex, "user_id": user,
                     "product_id": rng.choice(product_ids), "kind": rng.choice(KINDS),
                     "occurred_at": now}
                    for user in rng.sample(user_ids, users) for _ in range(per)]

        for users, per in SHAPES:
            spent = {"batched": [0.0, 0.0], "per_user": [0.0, 0.0]}  # CPU s, wall s
            modes = [("batched", batched), ("per_user", per_user)]
            for i in range(args.batches + 3):  # the first 3 rounds warm up
                for mode, ctx in modes if i % 2 == 0 else modes[::-1]:  # neither always first
                    events = batch(users, per)
                    cpu, wall = time.process_time(), time.perf_counter()
                    record_events(ctx, events=events)
                    if i >= 3:
                        spent[mode][0] += time.process_time() - cpu
                        spent[mode][1] += time.perf_counter() - wall
            figures = {mode: {"cpu_ms_per_batch": round(cpu / args.batches * 1000, 2),
                              "wall_ms_per_batch": round(wall / args.batches * 1000, 2),
                              "events_per_s": round(users * per * args.batches / wall, 1)}
                       for mode, (cpu, wall) in spent.items()}
            figures["cpu_ratio_per_user_vs_batched"] = round(
                spent["per_user"][0] / spent["batched"][0], 2)
            figures["wall_ratio_per_user_vs_batched"] = round(
                spent["per_user"][1] / spent["batched"][1], 2)
            shapes[f"{users}x{per}"] = figures
            print(f"{users} users x {per} events: {json.dumps(figures)}", flush=True)
    result = {
        "benchmark": "events",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git_commit(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform(), "load_avg": os.getloadavg()},
        "settings": {"products": args.products, "users": args.users, "batches": args.batches,
                     "item_vectors": f"random, text {MiniLMEncoder.dimension} + image 64 dims",
                     "threads": "torch 1, FAISS 1", "database": "PostgreSQL (scratch)"},
        "shapes": shapes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
