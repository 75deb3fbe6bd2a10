"""Start a real Celery worker *process* and wait until its models are loaded.

Used by the integration and reliability tests (never eager mode) and by bench/. Give each run
its own queue name and cache prefix (``RECGEN_CELERY_QUEUE``, ``RECGEN_CACHE_PREFIX``) so
workers of concurrent runs on the same Redis never take each other's tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recgen.core.config import PROJECT_ROOT
from recgen.runtime.dispatch import Dispatcher

READY_TIMEOUT_S = 180.0


@contextmanager
def celery_worker(
    env: Mapping[str, str],
    log_path: Path,
    *,
    concurrency: int = 1,
    include: Sequence[str] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``celery -A workers.app worker`` on ``env``'s queue; wait until it is ready."""
    queue = env["RECGEN_CELERY_QUEUE"]
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"{queue}@%h",
    ]
    if include:  # celery keeps only the last of repeated -I options: give one list
        args += ["-I", ",".join(include)]
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, log_path, concurrency)
        yield proc
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path, processes: int) -> None:
    # "ready." means the consumer runs; "worker process ready" (ours) means the models of every
    # child process are loaded, so the first task's timing is not a model load.
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if " ready." in text and text.count("worker process ready") >= processes:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}:\n{text[-4000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"celery worker not ready after {READY_TIMEOUT_S}s:\n{text[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # warm shutdown of the worker and its children
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_for_task(
    dispatcher: Dispatcher, task_id: str, *, timeout: float, poll: float = 0.1
) -> tuple[str, Any]:
    """(state, result) once the task succeeded or failed; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state, result = dispatcher.task_status(task_id)
        if state in ("SUCCESS", "FAILURE"):
            return state, result
        time.sleep(poll)
    raise TimeoutError(f"task {task_id} not finished after {timeout}s")
