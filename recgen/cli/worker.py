"""``recgen worker`` / ``recgen beat``: the celery CLI with the project's settings.

These exec ``python -m celery -A workers.app ...`` so signals (TERM for a warm shutdown) reach
celery directly; the selected config file travels in ``RECGEN_CONFIG_FILE``. recgen never
imports ``workers/``: the worker imports recgen, not the other way round.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from recgen.core.config import get_settings


def _exec(args: list[str]) -> None:
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", *args]
    typer.echo(" ".join(argv[1:]), err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default: settings.worker_concurrency).")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="Node name, e.g. gen1@%h.")] = None,
) -> None:
    """Run a Celery worker on the configured broker and queue (one model copy per process)."""
    settings = get_settings()
    args = [
        "worker",
        "-Q",
        settings.celery_queue,
        "-c",
        str(concurrency or settings.worker_concurrency),
        "-P",
        "prefork",
        "--loglevel",
        loglevel,
        # Workers on one queue need not gossip; it saves broker traffic per worker.
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        args += ["-n", hostname]
    _exec(args)


def beat(loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO") -> None:
    """Run Celery beat: ``refresh_stale_feeds`` every ``beat_refresh_interval_s`` seconds.

    The in-memory scheduler is used on purpose: the default one persists with shelve
    (pickle), and an interval schedule loses nothing on restart but one partial interval.
    """
    _exec(["beat", "-S", "celery.beat:Scheduler", "--loglevel", loglevel])
