"""A small world for tests that run a real Celery worker process on a database of their own.

``worker_world(tmp, users=..., env=...)`` gives a fresh migrated PostgreSQL database holding
the reliability catalog (40 products, ``harness/world.py``) and bare users, random
item vectors, a unique queue and cache prefix, and the ``RECGEN_*`` variables set in
``os.environ`` for the test's own Celery client (restored afterwards). ``env`` overrides any
of them, e.g. ``RECGEN_BROKER_URL`` to run the same test on RabbitMQ. On exit the cache keys
under the prefix and the broker queue (and its exchange) are deleted. Start the worker with
:meth:`WorkerWorld.worker`; by default it loads the light engine of the reliability suite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Connection, Exchange, Queue
from sqlalchemy import select

from harness.catalog import random_item_vectors
from harness.worker_process import celery_worker, wait_for_task
from harness.world import PRODUCTS, seeded_database
from recgen.core.config import Settings, load_settings
from recgen.generation.cache import RedisAssetCache
from recgen.runtime.celery_config import make_celery_client, ping_broker
from recgen.runtime.dispatch import CeleryDispatcher
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import GeneratedAssetRow
from recgen.store.repos.experiments import ensure_users
from tests.conftest import PG_ADMIN_URL
from tests.support.world import worker_env

AMQP_TEST_URL = os.environ.get("RECGEN_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
LIGHT_ENGINE = "harness.light_engine"
TASK_TIMEOUT_S = 120.0


def require_rabbitmq() -> None:
    """Fail (not skip: CI starts RabbitMQ) with a clear message when it is not reachable."""
    try:
        ping_broker(AMQP_TEST_URL, 5.0)
    except Exception as exc:
        pytest.fail(f"RabbitMQ not reachable at {AMQP_TEST_URL} ({exc}); .ci/run starts it")


@dataclass
class WorkerWorld:
    env: dict[str, str]
    db_url: str
    tmp: Path
    settings: Settings
    client: Celery
    dispatcher: CeleryDispatcher
    cache: RedisAssetCache

    @property
    def queue(self) -> str:
        return self.settings.celery_queue

    def worker(
        self,
        log_name: str,
        *,
        env: Mapping[str, str] | None = None,
        include: Sequence[str] = (LIGHT_ENGINE,),
    ) -> AbstractContextManager[Popen[bytes]]:
        """A real ``celery worker`` process (concurrency 1) on this world's queue."""
        return celery_worker({**self.env, **(env or {})}, self.tmp / log_name, include=include)

    def wait(self, task_id: str, timeout: float = TASK_TIMEOUT_S) -> tuple[str, Any]:
        return wait_for_task(self.dispatcher, task_id, timeout=timeout)

    def ready_messages(self) -> int:
        """Messages waiting in the queue; a message a worker holds unacknowledged is not one."""
        with Connection(self.settings.broker_url) as conn:
            _, count, _ = conn.default_channel.queue_declare(self.queue, passive=True)
        return int(count)

    def audit(self) -> list[GeneratedAssetRow]:
        engine = make_engine(self.db_url)
        with session_scope(session_factory(engine)) as session:
            rows = list(session.scalars(select(GeneratedAssetRow)))
        engine.dispose()
        return rows


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _delete_queue(broker_url: str, name: str) -> None:
    # Celery declared the queue and a direct exchange of the same name (durable on RabbitMQ).
    # Declared again first: kombu's Redis transport only deletes bindings it knows of.
    with Connection(broker_url) as conn:
        queue = Queue(name, Exchange(name, "direct"), routing_key=name)(conn.default_channel)
        queue.declare()
        queue.delete()
        queue.exchange.delete()


@contextmanager
def worker_world(
    tmp: Path, *, users: Sequence[int], env: Mapping[str, str] | None = None
) -> Iterator[WorkerWorld]:
    with seeded_database(PG_ADMIN_URL) as db_url:
        engine = make_engine(db_url)
        with session_scope(session_factory(engine)) as session:
            ensure_users(session, user_ids=list(users))
        engine.dispose()
        random_item_vectors(PRODUCTS).save(tmp / "indexes" / "items")
        run = uuid.uuid4().hex[:8]
        full = worker_env(
            db_url,
            tmp / "indexes",
            f"recgen-test-{run}",
            RECGEN_LOCK_WAIT_S="1",
            RECGEN_PERSONA_SHARING="false",
            **(env or {}),
        )
        with _environ(full):
            settings = load_settings()
            redis_client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
            cache = RedisAssetCache(redis_client, settings.cache_prefix, 600, 0.0)
            client = make_celery_client(settings)
            dispatcher = CeleryDispatcher(client, settings.celery_queue)
            try:
                yield WorkerWorld(full, db_url, tmp, settings, client, dispatcher, cache)
            finally:
                cache.purge()
                redis_client.close()
                client.close()
                _delete_queue(settings.broker_url, settings.celery_queue)
