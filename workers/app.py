"""The Celery app of the workers. Start it with ``recgen worker`` / ``recgen beat``.

Configuration is :func:`recgen.runtime.celery_config.celery_config` (shared with the API's
client, so both agree on queue, serializer and broker options), built from the settings when
the app is first used, never at import. Models are loaded once per
worker *process*, after the fork (``worker_process_init``): loading in the parent would share
torch's thread pools across fork and multiply memory by copy-on-write faults; loading per
task would cost seconds per task.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from recgen.core.config import Settings, get_settings
from recgen.jobs.context import JobContext
from recgen.runtime.bootstrap import build_context, set_compute_threads
from recgen.runtime.celery_config import celery_config

log = logging.getLogger(__name__)

_context: JobContext | None = None


def settings() -> Settings:
    return get_settings()


app = Celery("recgen", set_as_current=True, include=["workers.tasks"])
# A promise Celery keeps until the configuration is first read (worker or beat start, the
# first send): importing the app or its tasks reads no settings, and a process that chooses
# its settings first (--config, the environment) is configured with those.
app.add_defaults(lambda: celery_config(settings()))


def context() -> JobContext:
    """This process's collaborators; built on first use (the solo pool has no process init)."""
    global _context
    if _context is None:
        _context = _build()
    return _context


def _build() -> JobContext:
    current = settings()
    set_compute_threads(current)
    ctx = build_context(current)
    log.info("worker process ready: models %s", ctx.engine.model_versions)
    return ctx


@worker_process_init.connect
def _load_models(**_: Any) -> None:
    global _context
    _context = _build()


@worker_process_shutdown.connect
def _drop_models(**_: Any) -> None:
    global _context
    _context = None

