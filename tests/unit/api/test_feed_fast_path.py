"""FeedFastPath: which requests it answers itself, and how its errors are answered."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import redis
from fastapi.responses import Response
from starlette.types import Message, Receive, Scope, Send

from recgen.api.errors import ApiError
from recgen.api.routes import feed
from recgen.api.routes.feed import FeedFastPath


class Route:
    path = "/v1/feed/{user_id}"


def call(
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    query: bytes,
    *,
    method: str = "GET",
    serve: Any = None,
) -> tuple[list[tuple[int, int, str | None]], bool, list[Message]]:
    """Send one request through the middleware: (serve_feed calls, routed on, messages)."""
    served: list[tuple[int, int, str | None]] = []
    routed: list[bool] = []
    sent: list[Message] = []

    async def serve_feed(_state: object, *, user_id: int, limit: int, key: str | None) -> Response:
        served.append((user_id, limit, key))
        if serve is not None:
            serve()
        return Response(b"{}", media_type="application/json")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        routed.append(True)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(b"authorization", b"Bearer rg_key")],
    }
    monkeypatch.setattr(feed, "serve_feed", serve_feed)
    middleware = FeedFastPath(app, state=object(), route=Route())  # type: ignore[arg-type]
    asyncio.run(middleware(scope, receive, send))
    return served, bool(routed), sent


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/v1/feed/7", b"", (7, 10)),
        ("/v1/feed/7", b"limit=25", (7, 25)),
        ("/v1/feed/9223372036854775807", b"limit=1", (2**63 - 1, 1)),
    ],
)
def test_plain_feed_requests_are_answered_without_the_router(
    monkeypatch: pytest.MonkeyPatch, path: str, query: bytes, expected: tuple[int, int]
) -> None:
    served, routed, sent = call(monkeypatch, path, query)
    assert served == [(*expected, "rg_key")] and not routed
    assert sent[0]["status"] == 200


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/v1/feed/07", b""),  # not how FastAPI would print the id: its route decides
        ("GET", "/v1/feed/0", b""),
        ("GET", "/v1/feed/9223372036854775808", b""),  # past the largest id
        ("GET", "/v1/feed/abc", b""),
        ("GET", "/v1/feed/7/", b""),
        ("GET", "/v1/feeds/7", b""),
        ("GET", "/v1/feed/7", b"limit=0"),
        ("GET", "/v1/feed/7", b"limit=-1"),
        ("GET", "/v1/feed/7", b"limit=5&debug=1"),
        ("GET", "/v1/feed/7", b"limit="),
        ("HEAD", "/v1/feed/7", b""),
        ("POST", "/v1/feed/7", b""),
    ],
)
def test_anything_else_goes_to_the_routed_endpoint(
    monkeypatch: pytest.MonkeyPatch, method: str, path: str, query: bytes
) -> None:
    served, routed, sent = call(monkeypatch, path, query, method=method)
    assert routed and served == [] and sent == []


def test_errors_get_the_apps_error_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")

    _, _, sent = call(monkeypatch, "/v1/feed/7", b"", serve=refuse)
    assert sent[0]["status"] == 401
    assert orjson.loads(sent[1]["body"])["error"]["code"] == "unauthorized"

    def lost() -> None:
        raise redis.ConnectionError("connection refused")

    _, _, sent = call(monkeypatch, "/v1/feed/7", b"", serve=lost)
    assert sent[0]["status"] == 503 and (b"retry-after", b"5") in sent[0]["headers"]


def test_unexpected_errors_propagate_to_the_server_error_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        call(monkeypatch, "/v1/feed/7", b"", serve=broken)
