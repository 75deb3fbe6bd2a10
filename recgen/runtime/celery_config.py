"""The one Celery configuration, shared by the API's client and the worker app so that both
agree on serializer, queue and broker transport options. The broker is Redis or RabbitMQ,
chosen by ``broker_url`` alone (``redis://`` or ``amqp://``); ``ping_broker(url, timeout_s)``
is the readiness check for either."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
from celery import Celery
from celery.backends.redis import RedisBackend
from kombu.connection import Connection

from recgen.jobs.names import TASK_REFRESH_STALE_FEEDS

if TYPE_CHECKING:
    from recgen.core.config import Settings


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
        "result_expires": settings.task_result_expires_s,
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
