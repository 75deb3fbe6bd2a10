"""Request size limit, enforced before a body is parsed (Content-Length and streamed bytes), and
the per-key rate limit of generation requests."""

from __future__ import annotations

import time

import redis
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recgen.api.errors import ApiError, error_response
from recgen.core.keys import prefixed, rate_key


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing re-raises it as a 413 instead of
    wrapping it into a 400 "error parsing the body" (what a chunked oversized body got)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {max_bytes} bytes")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body exceeds the limit of {self.max_bytes} bytes",
            [{"loc": "body", "message": f"at most {self.max_bytes} bytes"}],
        )
        await response(scope, receive, send)


class RateLimiter:
    """Fixed one-minute windows per API key, counted in Redis so every API process shares
    them. A window's counter lives two minutes; a key over its budget gets 429 with the
    seconds left in the window."""

    WINDOW_S = 60

    def __init__(self, client: redis.Redis[bytes], *, prefix: str, per_minute: int) -> None:
        self._client = client
        self._prefix = prefix
        self._per_minute = per_minute

    def check(self, key_name: str, cost: int = 1) -> None:
        """Count ``cost`` requests for ``key_name``; raise ApiError(429) over the budget."""
        now = time.time()
        window = int(now // self.WINDOW_S)
        slot = prefixed(self._prefix, rate_key(key_name, window))
        pipe = self._client.pipeline()
        pipe.incrby(slot, cost)
        pipe.expire(slot, 2 * self.WINDOW_S)
        used, _ = pipe.execute()
        if int(used) > self._per_minute:
            retry = max(1, int((window + 1) * self.WINDOW_S - now) + 1)
            raise ApiError(
                429,
                "rate_limited",
                f"key {key_name!r} is over its limit of {self._per_minute} generation "
                f"requests per minute; retry in {retry} s",
                [{"loc": "header.X-API-Key", "message": "rate limit exceeded"}],
                headers={"Retry-After": str(retry)},
            )
