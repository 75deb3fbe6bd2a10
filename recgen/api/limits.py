"""Request size limit, enforced before a body is parsed (Content-Length and streamed bytes), and
the per-key rate limits of the routes that create work."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Final

import redis
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recgen.api.errors import ApiError, error_response
from recgen.core.keys import rate_limit_prefix

log = logging.getLogger(__name__)


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it as a 413 instead of
    wrapping it into a 400 "error parsing the body" (what a chunked oversized body got)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {max_bytes} bytes")


class BodyTimedOut(HTTPException):
    """Raised from ``receive`` when a body's next chunk is late (an HTTPException for the
    reason BodyTooLarge is one)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"request body not received within {seconds:g} s")


class BodySizeLimit:
    """Bodies of at most ``max_bytes`` (413), each chunk arriving within ``timeout_s`` of
    the previous one (408): a client that sends a head and then dribbles or stalls its body
    would otherwise hold its connection and a request slot as long as it liked."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        seen = 0
        started = False
        body_done = False

        async def limited_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # after the body: a wait for the disconnect, not bounded here
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise BodyTimedOut(self.timeout_s) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # A chunked body without Content-Length crossed the limit while being read.
            if not started:
                await self._refuse(scope, receive, send)
        except BodyTimedOut as exc:
            if not started:
                await error_response(
                    408, "request_timeout", exc.detail,
                    [{"loc": "body", "message": f"next chunk within {self.timeout_s:g} s"}],
                    headers={"Connection": "close"},
                )(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body exceeds the limit of {self.max_bytes} bytes",
            [{"loc": "body", "message": f"at most {self.max_bytes} bytes"}],
        )
        await response(scope, receive, send)


class RateLimits:
    """Per API key and route, limits of the work a key may create, shared by every API
    process (counted in Redis by the ``limits`` package, sliding-window counters under the
    key prefix of :func:`recgen.core.keys.rate_limit_prefix`).

    ``per_minute`` maps a route's name (``generate``, ``events``, ``feed_enqueue``) to its
    budget per key and minute; over it: 429 with ``Retry-After``, nothing done.
    """

    def __init__(
        self, client: redis.Redis[bytes], *, prefix: str, per_minute: Mapping[str, int]
    ) -> None:
        storage = RedisStorage(
            "redis://", connection_pool=client.connection_pool, key_prefix=rate_limit_prefix(prefix)
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items = {
            route: RateLimitItemPerMinute(amount, namespace=route)
            for route, amount in per_minute.items()
        }

    def check(self, route: str, key_name: str, cost: int = 1) -> None:
        """Count ``cost`` units of ``route`` for ``key_name``; raise ApiError(429) over it."""
        item = self._items[route]
        try:
            if self._limiter.hit(item, key_name, cost=cost):
                return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Counted in Redis, so not countable while it is down. Open, not closed: events are
            # stored in SQL in an outage (a 202 there is kept), and the routes that enqueue
            # find the broker (the same Redis) down and answer 503 themselves.
            log.warning("rate limit of %s for %r not counted, Redis down: %s", route, key_name, exc)
            return
        reset = self._limiter.get_window_stats(item, key_name).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise ApiError(
            429,
            "rate_limited",
            f"key {key_name!r} is over its limit of {item.amount} {ROUTE_UNITS[route]} per "
            f"minute; retry in {retry} s",
            [{"loc": "header.X-API-Key", "message": f"{route} rate limit exceeded"}],
            headers={"Retry-After": str(retry)},
        )


# What one unit of each limited route is, for the 429's message.
ROUTE_UNITS: Final = {
    "generate": "generation requests",
    "events": "events",
    "feed_enqueue": "feed refreshes and regenerations",
}
