"""A server process on loopback, started and stopped around a block: ``recgen serve`` or any
uvicorn command line. Shared by the soak (tests/reliability/test_soak.py, bench/soak_bench.py),
the served-API tests and the API benchmark (bench/api_bench.py), so that all of them exercise
the API as it is served.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Served:
    url: str  # http://127.0.0.1:PORT
    pid: int  # the server process (uvicorn's supervisor when it runs several workers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int, *, workers: int = 1) -> list[str]:
    """``recgen serve`` on 127.0.0.1:PORT (uvicorn on uvloop + httptools, no access log)."""
    return [sys.executable, "-c", "from recgen.cli import main; main()", "serve",
            "--port", str(port), "--workers", str(workers)]


@contextmanager
def _log_file(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        with tempfile.TemporaryFile() as log:
            yield log
    else:
        with path.open("w+b") as log:
            yield log


@contextmanager
def served(
    command: list[str],
    env: Mapping[str, str],
    port: int,
    *,
    log_path: Path | None = None,
    live_statuses: Collection[int] = (200,),
) -> Iterator[Served]:
    """Run ``command`` (this environment overlaid by ``env``) until GET /health/live on
    ``port`` answers one of ``live_statuses``; terminate it (and wait) afterwards.

    Its output goes to ``log_path`` (a temporary file when None); the tail is in the error
    when the server exits or is not up within START_TIMEOUT_S.
    """
    with _log_file(log_path) as log:
        proc = subprocess.Popen(command, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    if httpx.get(f"{base}/health/live", timeout=1).status_code in live_statuses:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"server {command} did not start:\n{tail}")
                time.sleep(0.3)
            yield Served(base, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def served_api(
    env: Mapping[str, str], port: int | None = None, *, workers: int = 1,
    log_path: Path | None = None,
) -> Iterator[Served]:
    """``recgen serve --port PORT --workers N`` with settings from ``env`` (RECGEN_* variables);
    a free port when ``port`` is None."""
    port = port or free_port()
    with served(serve_command(port, workers=workers), env, port, log_path=log_path) as server:
        yield server
