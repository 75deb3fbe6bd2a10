"""Submitting background work: to Celery workers by task *name*, or to an in-process pool.

Interface (:class:`Dispatcher`; every method returns at once):

- ``submit_generation(user_id, product_ids, kinds=("text", "image")) -> task_id``
- ``submit_refresh(user_id) -> task_id`` (retrieve candidates, generate what is missing, write
  the user's feed)
- ``submit_events(events) -> task_id`` (store interaction dicts, update profiles)
- ``task_status(task_id) -> (state, result)``: state is one of Celery's names
  (``PENDING``, ``STARTED``, ``RETRY``, ``SUCCESS``, ``FAILURE``); result is the task's
  JSON-able return value on SUCCESS, the error text on FAILURE, else None.

``build_dispatcher(settings, cache=None)`` gives :class:`CeleryDispatcher` for
``executor = "celery"`` (a client-only Celery app: it never imports ``workers/``, the arrow
points the other way) and :class:`InProcessDispatcher` for the embedded default, which runs
the same job functions as the workers (:mod:`recgen.jobs`) in a small thread pool; give it
the API's ``cache`` so that jobs and API share one in-memory cache.

``celery_config(settings)`` is the one Celery configuration shared by this client and by the
worker app, so both always agree on serializer, queue and broker transport options. The broker
is Redis or RabbitMQ, chosen by ``broker_url`` alone (``redis://`` or ``amqp://``);
``ping_broker(url, timeout_s)`` is the readiness check for either.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

import redis
from celery import Celery
from celery.backends.redis import RedisBackend
from kombu.connection import Connection

from recgen.types import AssetKind

if TYPE_CHECKING:
    from recgen.cache import AssetCache
    from recgen.config import Settings

TASK_GENERATE_ASSETS = "recgen.generate_assets"
TASK_REFRESH_FEED = "recgen.refresh_feed"
TASK_REFRESH_FEEDS = "recgen.refresh_feeds"  # one chunk of users: the dedup window
TASK_REFRESH_STALE_FEEDS = "recgen.refresh_stale_feeds"
TASK_RECORD_EVENTS = "recgen.record_events"
ALL_KINDS: tuple[AssetKind, ...] = ("text", "image")

# A job runner takes (task name, keyword arguments) and returns a JSON-able result.
JobRunner = Callable[[str, Mapping[str, Any]], Any]


class Dispatcher(Protocol):
    def submit_generation(
        self, user_id: int, product_ids: Sequence[int], kinds: Sequence[AssetKind] = ALL_KINDS
    ) -> str: ...
    def submit_refresh(self, user_id: int) -> str: ...
    def submit_events(self, events: Sequence[Mapping[str, Any]]) -> str: ...
    def task_status(self, task_id: str) -> tuple[str, Any]: ...


def generation_kwargs(
    user_id: int, product_ids: Sequence[int], kinds: Sequence[AssetKind]
) -> dict[str, Any]:
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {ALL_KINDS}, got {list(kinds)}")
    return {
        "user_id": int(user_id),
        "product_ids": [int(p) for p in product_ids],
        "kinds": list(dict.fromkeys(kinds)),
    }


# Brokers that emulate acknowledgements with a visibility timeout (kombu's virtual transports).
# AMQP acknowledges natively: RabbitMQ redelivers an unacked message as soon as the consumer's
# connection closes, and bounds how long one may stay unacked by its own ``consumer_timeout``.
VISIBILITY_TIMEOUT_SCHEMES = ("redis://", "rediss://", "redis+socket://", "sentinel://", "sqs://")


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """Transport options for the configured broker (empty for AMQP: nothing to emulate)."""
    if settings.broker_url.startswith(VISIBILITY_TIMEOUT_SCHEMES):
        # Unacked messages are redelivered after this; it must outlive the longest task.
        return {"visibility_timeout": settings.visibility_timeout_s}
    return {}


def ping_broker(broker_url: str, timeout_s: float) -> None:
    """Raise unless the broker accepts a connection (readiness probes): Redis or AMQP."""
    if broker_url.startswith(("redis://", "rediss://")):
        client: redis.Redis[bytes] = redis.Redis.from_url(
            broker_url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    # Any other kombu transport (amqp://, pyamqp://, ...): open and close one connection,
    # without kombu's retry interval (the probe has its own deadline).
    with Connection(broker_url, connect_timeout=timeout_s) as conn:  # type: ignore[no-untyped-call]
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout_s)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for both the client and the workers (see docs/engine.md for why)."""
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        # JSON only: a pickled message from the broker would be code execution.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": settings.celery_queue,
        "task_default_routing_key": settings.celery_queue,
        # Ack after the task ran, and re-queue a task whose worker died: tasks are idempotent,
        # and the worker side counts deliveries so a poison task is dropped after N.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit_s,
        "task_soft_time_limit": max(1, settings.task_time_limit_s - 30),
        "broker_transport_options": broker_transport_options(settings),
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        "result_expires": 24 * 3600,
        "task_track_started": True,
        "broker_connection_retry_on_startup": True,
        "worker_max_memory_per_child": settings.worker_max_memory_kb,
        # Models load in worker_process_init, before the child reports up (see config.py).
        "worker_proc_alive_timeout": settings.worker_start_timeout_s,
        "worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "refresh-stale-feeds": {
                "task": TASK_REFRESH_STALE_FEEDS,
                "schedule": settings.beat_refresh_interval_s,
                # A beat tick nobody picked up before the next one is worthless.
                "options": {"expires": settings.beat_refresh_interval_s},
            }
        },
    }


class PollingRedisBackend(RedisBackend):  # type: ignore[misc]  # celery is untyped
    """Celery's Redis result backend without the pub/sub subscription made at every send.

    The stock backend subscribes to each sent task's result channel so that ``result.get()``
    can block on it. The API never blocks on results (it polls ``task_status``), so those
    subscriptions were never drained: they piled up per process, and while Redis was down
    ``send_task`` failed with "Retry limit exceeded ... the Celery application must be
    restarted" although the broker publish itself would be retried.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None


def make_celery_client(settings: Settings) -> Celery:
    app = Celery("recgen-client", set_as_current=False)
    app.conf.update(celery_config(settings))
    if settings.result_backend.startswith(("redis://", "rediss://")):
        app.conf.result_backend = (
            f"{PollingRedisBackend.__module__}:{PollingRedisBackend.__name__}+"
            f"{settings.result_backend}"
        )
    return app


class CeleryDispatcher:
    """Sends tasks by name; never imports the worker code or the models."""

    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def _send(self, name: str, kwargs: Mapping[str, Any]) -> str:
        return str(self._app.send_task(name, kwargs=dict(kwargs), queue=self._queue).id)

    def submit_generation(
        self, user_id: int, product_ids: Sequence[int], kinds: Sequence[AssetKind] = ALL_KINDS
    ) -> str:
        return self._send(TASK_GENERATE_ASSETS, generation_kwargs(user_id, product_ids, kinds))

    def submit_refresh(self, user_id: int) -> str:
        return self._send(TASK_REFRESH_FEED, {"user_id": int(user_id)})

    def submit_events(self, events: Sequence[Mapping[str, Any]]) -> str:
        return self._send(TASK_RECORD_EVENTS, {"events": [dict(e) for e in events]})

    def task_status(self, task_id: str) -> tuple[str, Any]:
        result = self._app.AsyncResult(task_id)
        state = str(result.state)
        if state == "SUCCESS":
            return state, result.result
        if state == "FAILURE":
            return state, str(result.result)
        return state, None


class InProcessDispatcher:
    """The embedded default: the same jobs in a thread pool, statuses kept in memory.

    ``runner`` is built lazily on first use so constructing the API does not load models.
    """

    def __init__(self, runner_factory: Callable[[], JobRunner], max_workers: int = 2) -> None:
        self._runner_factory = runner_factory
        self._runner: JobRunner | None = None
        self._runner_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="recgen-job")
        self._futures: dict[str, Future[Any]] = {}

    def _run(self, name: str, kwargs: Mapping[str, Any]) -> Any:
        with self._runner_lock:
            if self._runner is None:
                self._runner = self._runner_factory()
            runner = self._runner
        return runner(name, kwargs)

    def _submit(self, name: str, kwargs: Mapping[str, Any]) -> str:
        task_id = str(uuid.uuid4())
        self._futures[task_id] = self._pool.submit(self._run, name, kwargs)
        return task_id

    def submit_generation(
        self, user_id: int, product_ids: Sequence[int], kinds: Sequence[AssetKind] = ALL_KINDS
    ) -> str:
        return self._submit(TASK_GENERATE_ASSETS, generation_kwargs(user_id, product_ids, kinds))

    def submit_refresh(self, user_id: int) -> str:
        return self._submit(TASK_REFRESH_FEED, {"user_id": int(user_id)})

    def submit_events(self, events: Sequence[Mapping[str, Any]]) -> str:
        return self._submit(TASK_RECORD_EVENTS, {"events": [dict(e) for e in events]})

    def task_status(self, task_id: str) -> tuple[str, Any]:
        future = self._futures.get(task_id)
        if future is None:
            return "PENDING", None  # what Celery says for an unknown id, too
        if future.running():
            return "STARTED", None
        if not future.done():
            return "PENDING", None
        error = future.exception()
        if error is not None:
            return "FAILURE", f"{type(error).__name__}: {error}"
        return "SUCCESS", future.result()

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


def build_dispatcher(settings: Settings, *, cache: AssetCache | None = None) -> Dispatcher:
    """The configured dispatcher.

    In-process, pass the caller's ``cache``: with the memory backend the jobs must write
    into the very cache object the API reads (a second MemoryAssetCache would be empty).
    """
    if settings.executor == "celery":
        return CeleryDispatcher(make_celery_client(settings), settings.celery_queue)
    from recgen.wiring import build_job_runner  # models load only when in-process

    return InProcessDispatcher(
        lambda: build_job_runner(settings, cache=cache), max_workers=settings.inprocess_threads
    )
