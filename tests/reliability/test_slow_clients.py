"""Slow clients must not hold the served API's connections (``recgen serve``, real uvicorn).

Before, uvicorn timed out only idle keep-alive connections and cancelled that timer on the
first byte: clients that connected and sent nothing, or dribbled their headers a byte at a
time, stayed connected as long as they liked (150 of them held 40 s), each holding a slot of
the server's concurrency.
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from harness.served import served_api
from harness.world import KEYS, api_settings, seed, settings_env
from tests.conftest import REDIS_TEST_URL

HEAD_TIMEOUT_S = 1.0
CLIENTS = 20
# Each client is cut off within the head deadline plus scheduling slack, far below the
# minutes a dribbling client held before.
CLOSE_BOUND_S = 4.0


def _closed_within(sock: socket.socket, bound_s: float, dribble: bytes) -> bool:
    """Send ``dribble`` a byte every 0.2 s; True when the server closes first."""
    deadline = time.monotonic() + bound_s
    sock.settimeout(0.2)
    for byte in [dribble[i:i + 1] for i in range(len(dribble))] + [b""] * 1000:
        if time.monotonic() > deadline:
            return False
        try:
            if byte:
                sock.sendall(byte)
            if sock.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset by the server: closed too
            return True
    return False


DRIBBLED_HEAD = b"GET /v1/feed/1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60


@pytest.mark.parametrize("dribble", [b"", DRIBBLED_HEAD], ids=["silent", "dribbling-headers"])
def test_slow_clients_are_cut_off(migrated_pg_url: str, dribble: bytes) -> None:
    seed(migrated_pg_url)
    prefix = f"rel-slow-{uuid.uuid4().hex[:8]}"
    settings = api_settings(migrated_pg_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                            redis_url=REDIS_TEST_URL, api_header_timeout_seconds=HEAD_TIMEOUT_S)
    with served_api(settings_env(settings)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CLIENTS)]
        for client in clients:  # every one is mid-head when the first is checked
            client.sendall(dribble[:4])
        try:
            started = time.monotonic()
            closed = [_closed_within(c, CLOSE_BOUND_S - (time.monotonic() - started), dribble)
                      for c in clients]
        finally:
            for client in clients:
                client.close()
    assert all(closed), f"{closed.count(False)} of {CLIENTS} slow clients still connected"


def test_a_stalled_body_is_answered_408(migrated_pg_url: str) -> None:
    # The head arrives whole (so the head deadline is met), then the body stalls half-sent.
    seed(migrated_pg_url)
    prefix = f"rel-slow-{uuid.uuid4().hex[:8]}"
    settings = api_settings(migrated_pg_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                            redis_url=REDIS_TEST_URL, api_body_timeout_seconds=HEAD_TIMEOUT_S)
    head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-API-Key: " + KEYS["backend"].encode() + b"\r\nContent-Length: 1000\r\n\r\n")
    with served_api(settings_env(settings)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(head + b'{"events": [')
            client.settimeout(CLOSE_BOUND_S)
            try:
                answer = client.recv(4096)
            except TimeoutError:
                answer = b""
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
