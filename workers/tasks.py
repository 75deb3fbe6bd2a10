"""Thin Celery tasks: ids in, job call (session scope, engine, cache write inside), retries.

Every task is idempotent (assets are keyed by provenance, audit rows by cache key, events by
event id), so ``acks_late`` redelivery after a crash is safe. What is not safe is a task that
*causes* the crash: it would be redelivered forever. :class:`RecgenTask`, the base of every
task, counts deliveries per (task id, retry number) in Redis and fails the task after
``max_deliveries``.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Task, states
from sqlalchemy.exc import OperationalError

from recgen.core.errors import RecgenError, StoreUnavailableError
from recgen.core.keys import delivery_key, prefixed
from recgen.core.types import AssetKind
from recgen.jobs.events import record_events as record_job
from recgen.jobs.functions import generate_assets as generate_job
from recgen.jobs.functions import refresh_feeds as refresh_job
from recgen.jobs.functions import stale_user_ids
from recgen.jobs.names import (
    TASK_GENERATE_ASSETS,
    TASK_RECORD_EVENTS,
    TASK_REFRESH_FEED,
    TASK_REFRESH_FEEDS,
    TASK_REFRESH_STALE_FEEDS,
)
from recgen.runtime.bootstrap import build_queued_tasks, build_redis
from workers.app import app, context, settings

log = logging.getLogger(__name__)

# Transient: the broker, cache or database blinked. Everything else is a bug or bad input
# and retrying would only repeat it.
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, OperationalError, StoreUnavailableError)
DELIVERY_COUNT_TTL_S = 7 * 24 * 3600
# Retries wait 2, 4, 8 ... s (at most 120), so task_max_retries = 3 spans a 14 s outage. No
# jitter: Celery's jitter draws each wait from 0 up to that value, so all retries could land
# within a second or two and give up before a database restart is over (seen in CI).
RETRY_BACKOFF_S = 2
RETRY_BACKOFF_MAX_S = 120


class PoisonTaskError(RecgenError):
    """A task was delivered more than max_deliveries times: its worker kept dying."""


_counter: redis.Redis[bytes] | None = None


def _redis() -> redis.Redis[bytes]:
    """The process's client of the cache Redis (delivery counts, queued tasks), made once."""
    global _counter
    if _counter is None:
        _counter = build_redis(settings())
    return _counter


def _deliveries(task_id: str, retries: int) -> int:
    key = prefixed(settings().cache_prefix, delivery_key(task_id, retries))
    pipe = _redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, DELIVERY_COUNT_TTL_S)
    count, _ = pipe.execute()
    return int(count)


def retry_countdown(retries: int) -> int:
    """Seconds to wait before the retry that follows ``retries`` earlier ones."""
    return int(min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_S * 2**retries))


class RecgenTask(Task):  # type: ignore[misc]  # celery is untyped
    """The base of every task: the delivery guard, then the body, under one retry policy.

    Each delivery is counted first and refused after ``max_deliveries`` (its worker kept
    dying). A transient error, in the count or in the body, is retried after
    :func:`retry_countdown` seconds, at most ``task_max_retries`` times. Celery's own
    ``autoretry_for`` is not used: it wraps only the body, and a Redis blip while counting
    would fail the task instead of retrying it. A task that has ended (succeeded, failed,
    revoked) is reported finished, so it stops counting against its API key's queued tasks.
    """

    @property
    def max_retries(self) -> int:
        # Read when a retry is decided: the worker's settings, not those of import time.
        return settings().task_max_retries

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        retries = int(self.request.retries or 0)
        try:
            self._refuse_poison(retries)
            return super().__call__(*args, **kwargs)
        except TRANSIENT as exc:
            raise self.retry(exc=exc, countdown=retry_countdown(retries)) from exc

    def after_return(
        self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # Done for good (not a retry, which stays queued): it stops counting against the API
        # key that submitted it. If Redis is down, its entry lapses by itself.
        if status not in states.READY_STATES:
            return
        try:
            build_queued_tasks(settings(), _redis()).finished(task_id)
        except redis.RedisError as exc:
            log.warning("could not report task %s finished: %s", task_id, exc)

    def _refuse_poison(self, retries: int) -> None:
        count = _deliveries(str(self.request.id), retries)
        limit = settings().max_deliveries
        if count > limit:
            log.error("task %s %s delivered %d times; giving up", self.name, self.request.id, count)
            raise PoisonTaskError(f"{self.name} delivered {count} times (limit {limit})")


def _owner(task: Task) -> str:
    """Lock owner: the task id, the same on every delivery of this task."""
    return f"task:{task.request.id}"


@app.task(name=TASK_GENERATE_ASSETS, base=RecgenTask, bind=True)
def generate_assets(
    self: Task, user_id: int, product_ids: list[int], kinds: list[AssetKind]
) -> dict[str, Any]:
    return generate_job(
        context(), user_id=user_id, product_ids=product_ids, kinds=kinds, owner=_owner(self)
    )


@app.task(name=TASK_REFRESH_FEED, base=RecgenTask, bind=True)
def refresh_feed(self: Task, user_id: int) -> dict[str, Any]:
    return refresh_job(context(), user_ids=[user_id], owner=_owner(self))


# Results only for a sender that asks (``ignore_result=False`` on the message, as the bench
# does): nobody polls the chunks beat's ticks send, and each stored result is a Redis write.
@app.task(name=TASK_REFRESH_FEEDS, base=RecgenTask, bind=True, ignore_result=True)
def refresh_feeds(self: Task, user_ids: list[int]) -> dict[str, Any]:
    """One chunk of users: their requests share one batch window (persona de-duplication)."""
    return refresh_job(context(), user_ids=user_ids, owner=_owner(self))


# Sent by beat, polled by nobody (a test asks for the result on its message).
@app.task(name=TASK_REFRESH_STALE_FEEDS, base=RecgenTask, bind=True, ignore_result=True)
def refresh_stale_feeds(self: Task) -> dict[str, Any]:
    """Beat: fan stale users out in chunks; at most ``refresh_max_chunks`` chunks per tick.

    A lock spanning one beat interval keeps two overlapping ticks (or two beats started by
    mistake) from queueing the same users twice.
    """
    current = settings()
    ctx = context()
    if not ctx.cache.acquire("beat:refresh-stale-feeds", current.beat_refresh_interval_s):
        return {"skipped": "another tick is fanning out"}
    size = current.refresh_chunk_size
    stale = stale_user_ids(ctx, limit=size * current.refresh_max_chunks)
    chunks = [stale[i : i + size] for i in range(0, len(stale), size)]
    sent = [
        str(refresh_feeds.apply_async(kwargs={"user_ids": chunk}, queue=current.celery_queue).id)
        for chunk in chunks
    ]
    log.info("refresh_stale_feeds: %d stale users in %d chunks", len(stale), len(chunks))
    # The chunk task ids, so that a tick's fan-out can be followed (in the worker's log).
    return {"stale": len(stale), "chunks": len(chunks), "tasks": sent}


@app.task(name=TASK_RECORD_EVENTS, base=RecgenTask, bind=True)
def record_events(self: Task, events: list[dict[str, Any]]) -> dict[str, Any]:
    return record_job(context(), events=events)
