"""Worker faults with a real Celery worker process, the real Redis broker and a PostgreSQL of
this module's own: SIGKILL mid-batch, a task that kills its worker every time, PostgreSQL
restarting under a task, and a corrupted model file."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from harness.catalog import random_item_vectors
from harness.worker_process import celery_worker, wait_for_task
from harness.world import PRODUCTS, seed, stored_event_ids
from recgen.core.config import Settings, load_settings
from recgen.generation.cache import RedisAssetCache
from recgen.runtime.celery_config import make_celery_client
from recgen.runtime.dispatch import CeleryDispatcher
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import GeneratedAssetRow
from recgen.store.repos.experiments import ensure_users
from tests.support.services import OwnPostgres
from tests.support.world import events, worker_env

USERS = list(range(1, 9))
TASK_TIMEOUT_S = 120.0
LIGHT = "harness.light_engine"


@dataclass
class Workers:
    env: dict[str, str]
    db_url: str
    tmp: Path
    dispatcher: CeleryDispatcher
    cache: RedisAssetCache
    settings: Settings

    def wait(self, task_id: str, timeout: float = TASK_TIMEOUT_S) -> tuple[str, Any]:
        return wait_for_task(self.dispatcher, task_id, timeout=timeout)

    def audit(self) -> list[GeneratedAssetRow]:
        engine = make_engine(self.db_url)
        with session_scope(session_factory(engine)) as session:
            rows = list(session.scalars(select(GeneratedAssetRow)))
        engine.dispose()
        return rows

    def locks_held(self) -> bool:
        client: redis.Redis[bytes] = redis.Redis.from_url(self.settings.redis_url)
        pattern = f"{self.settings.cache_prefix}:lock:*"
        held = next(iter(client.scan_iter(match=pattern, count=1000)), None) is not None
        client.close()
        return held


@pytest.fixture(scope="module")
def workers(own_pg: OwnPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    tmp = tmp_path_factory.mktemp("worker-faults")
    db_url = own_pg.create_database("workers")
    upgrade(db_url)
    seed(db_url)
    with session_scope(session_factory(make_engine(db_url))) as session:
        ensure_users(session, user_ids=USERS)
    random_item_vectors(PRODUCTS).save(tmp / "indexes" / "items")
    run = uuid.uuid4().hex[:8]
    env = worker_env(
        db_url,
        tmp / "indexes",
        f"rel-{run}",
        RECGEN_LOCK_WAIT_S="1",
        RECGEN_MAX_DELIVERIES="2",
        RECGEN_PERSONA_SHARING="false",
        RECGEN_GENERATION_TEXT_BATCH_SIZE="4",
        RECGEN_GENERATION_IMAGE_BATCH_SIZE="4",
        RECGEN_TEST_GEN_DELAY_S="0.25",
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    cache = RedisAssetCache(client, settings.cache_prefix, 600, 0.0)
    dispatcher = CeleryDispatcher(make_celery_client(settings), settings.celery_queue)
    try:
        yield Workers(env, db_url, tmp, dispatcher, cache, settings)
    finally:
        cache.purge()
        client.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_sigkill_mid_batch_every_task_completes_once(workers: Workers) -> None:
    with celery_worker(workers.env, workers.tmp / "kill.log", include=[LIGHT]) as proc:
        task_ids = [workers.dispatcher.submit_refresh(u) for u in USERS]
        deadline = time.monotonic() + 60
        # Stampede locks are held exactly while a task generates: kill inside that window.
        while not workers.locks_held():
            assert time.monotonic() < deadline, "generation never started"
            time.sleep(0.02)
        time.sleep(0.3)  # into the batch, past its first model call
        (child,) = _children(proc.pid)
        os.kill(child, signal.SIGKILL)  # what the OOM killer does to a bloated pool process
        results = [workers.wait(t) for t in task_ids]
    assert "WorkerLostError" in (workers.tmp / "kill.log").read_text()  # it died mid-task
    assert [state for state, _ in results] == ["SUCCESS"] * len(USERS), results
    referenced: set[str] = set()
    for user in USERS:
        feed = workers.cache.get_feed(user)
        assert feed is not None and len(feed.items) == workers.settings.feed_size
        referenced |= {k for i in feed.items for k in (i.text_key, i.image_key) if k}
    rows = workers.audit()
    audited = [row.cache_key for row in rows]
    # Exactly once in effect: one audit row per asset, every referenced asset in the cache.
    assert len(audited) == len(set(audited))
    assert referenced <= set(audited)
    missing = workers.cache.missing(sorted(referenced))
    assert missing == [], f"{len(missing)} referenced assets missing after the crash"


def test_task_that_kills_its_worker_is_failed_after_max_deliveries(workers: Workers) -> None:
    with celery_worker(
        workers.env, workers.tmp / "poison.log",
        include=[LIGHT, "tests.support.crashing_tasks"],
    ):
        client = make_celery_client(workers.settings)
        task_id = client.send_task(
            "recgen.tests.crash_worker", queue=workers.settings.celery_queue
        ).id
        state, result = workers.wait(task_id)
        # The worker is still healthy: a normal task after the poison one completes.
        after = workers.wait(workers.dispatcher.submit_refresh(USERS[0]))
    assert state == "FAILURE" and "delivered 3 times (limit 2)" in result
    assert after[0] == "SUCCESS"


def test_event_writes_retry_through_a_postgres_restart(
    workers: Workers, own_pg: OwnPostgres
) -> None:
    batch = events(USERS[1], 4, "pgrestart")
    with celery_worker(workers.env, workers.tmp / "pg.log", include=[LIGHT]):
        own_pg.stop("immediate")
        try:
            task_id = workers.dispatcher.submit_events(batch)
            time.sleep(3.0)  # the task runs, fails to connect, and is retried with backoff
            assert workers.dispatcher.task_status(task_id)[0] != "SUCCESS"
        finally:
            own_pg.start()
        state, result = workers.wait(task_id)
    assert state == "SUCCESS" and result == {"received": 4, "stored": 4, "dead_lettered": 0}, result
    assert stored_event_ids(workers.db_url, [e["event_id"] for e in batch]) == {
        e["event_id"] for e in batch
    }
