"""A Redis that stops answering (accepts, never replies) costs the API its deadline, not a hang.

The API's async Redis client has no socket timeout (see recgen.api.redis_deadline): here the API
talks to the test Redis through a TCP proxy that can be paused, so a call either gets its answer
or runs into ``api_redis_timeout_seconds``, after which the feed is served with stock content.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from recgen.api.app import Overrides, create_app
from recgen.core.config import Settings
from recgen.core.keys import asset_key
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.products import upsert_products
from tests.integration.api.conftest import ADMIN_KEY, PRODUCTS
from tests.support.api import RecordingDispatcher

pytestmark = pytest.mark.integration
DEADLINE_S = 0.5
SLACK_S = 2.5  # a loaded test machine; without the deadline a call would never return


class PausableProxy:
    """A TCP proxy to Redis that holds every byte while ``paused`` is set."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.paused = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                while self.paused.is_set():
                    time.sleep(0.01)
                dst.sendall(data)
        for sock in (src, dst):  # one side hung up (or a socket was closed): end both
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.paused.clear()
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture()
def proxy(redis_url: str) -> Iterator[PausableProxy]:
    parts = urlsplit(redis_url)
    running = PausableProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    yield running
    running.close()


def timed(client: TestClient, path: str) -> tuple[int, Any, float]:
    started = time.monotonic()
    response = client.get(path)
    return response.status_code, response.json(), time.monotonic() - started


def test_a_stalled_redis_gets_stock_within_the_deadline_then_recovers(
    settings: Settings,
    redis_url: str,
    cache: RedisAssetCache,
    proxy: PausableProxy,
    dispatcher: RecordingDispatcher,
) -> None:
    with session_scope(session_factory(make_engine(settings.database_url))) as session:
        upsert_products(session, products=PRODUCTS)
    text = {p: asset_key("text", p, model_version="v1", persona_id=3) for p in (101, 102, 103)}
    cache.put_many({k: f"Generated {p}".encode() for p, k in text.items()})
    items = tuple(StoredFeedItem(p, k, None, 3) for p, k in text.items())
    cache.put_feed(StoredFeed(7, time.time(), {"text": "v1"}, items))
    db = urlsplit(redis_url).path or "/0"
    stalled = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{proxy.port}{db}",
            "api_redis_timeout_seconds": DEADLINE_S,
            "exposure_drain_in_api": False,  # its sync client would wait out its own timeout
        }
    )
    app = create_app(stalled, Overrides(dispatcher=dispatcher))  # type: ignore[arg-type]
    with TestClient(app, headers={"X-API-Key": ADMIN_KEY}) as client:
        status, body, _ = timed(client, "/v1/feed/7")
        assert status == 200 and body["state"] == "ready", body

        proxy.paused.set()
        status, body, took = timed(client, "/v1/feed/7")
        assert status == 200 and body["state"] == "degraded", body
        assert [i["product_id"] for i in body["items"]] == [101, 102, 103]
        assert DEADLINE_S <= took < DEADLINE_S + SLACK_S
        # A user this process never served: the default products, after one deadline too.
        status, body, took = timed(client, "/v1/feed/8?limit=2")
        assert status == 200 and body["state"] == "degraded" and len(body["items"]) == 2
        assert took < DEADLINE_S + SLACK_S
        status, body, took = timed(client, f"/v1/assets/{text[101]}")
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert took < DEADLINE_S + SLACK_S
        status, body, _ = timed(client, "/health/ready")
        assert status == 503 and body["checks"]["redis"]["ok"] is False

        # The connections cut at the deadline were closed: a late reply cannot be read as the
        # answer to the next command, and the next request gets a fresh connection.
        proxy.paused.clear()
        status, body, _ = timed(client, "/v1/feed/7")
        assert status == 200 and body["state"] == "ready", body
        assert [i["text"] for i in body["items"]] == [
            "Generated 101",
            "Generated 102",
            "Generated 103",
        ]
