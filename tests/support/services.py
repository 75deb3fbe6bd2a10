"""Throwaway Redis and PostgreSQL servers that a test may kill and restart.

The shared services on 6379/5432 serve other test runs; an outage test must never touch them,
so each of these runs on its own free loopback port with its data in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not up after {START_TIMEOUT_S}s")


class OwnRedis:
    """redis-server without persistence (like the CI/compose one): a restart loses its data."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=(self.directory / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        client: redis.Redis[bytes] = redis.Redis(port=self.port, socket_timeout=1)
        _wait(client.ping, f"redis on {self.port}")
        client.close()

    def kill(self) -> None:
        """SIGKILL: the crash case (no shutdown save, clients see a reset)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


class OwnPostgres:
    """A PostgreSQL 15 cluster of its own (initdb as the postgres user when run as root).

    It lives in its own world-traversable temporary directory: pytest's tmp_path is private
    to root, and the postgres user must reach its data directory and socket.
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="recgen-pg-"))
        self.directory.chmod(0o755)
        self.data = self.directory / "data"
        self.port = free_port()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c shared_buffers=16MB -c max_connections=40")
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "pg.log"),
                  "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is the crash case: no checkpoint, clients are cut off."""
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
