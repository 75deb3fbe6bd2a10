"""uvicorn's httptools protocol with a deadline on each request's head.

uvicorn times out only an idle keep-alive connection, and cancels that timer on the first byte
received: a client sending its request line and headers a byte at a time (or nothing at all
after connecting) held its connection, and a slot of ``limit_concurrency``, for as long as it
liked (150 such clients stayed connected 40 s). Here a connection must deliver a complete head
within ``api_header_timeout_seconds`` of opening, and of each response finishing; past it the
connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recgen.core.config import get_settings


class HeadTimeoutHttpTools(HttpToolsProtocol):
    # Read from the settings at the first connection: uvicorn builds protocols from a class,
    # with no room for arguments of ours, in each worker process after the app factory ran.
    head_timeout_s: ClassVar[float | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HeadTimeoutHttpTools.head_timeout_s is None:
            HeadTimeoutHttpTools.head_timeout_s = get_settings().api_header_timeout_seconds
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        timeout = HeadTimeoutHttpTools.head_timeout_s
        assert timeout is not None
        self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Not when a pipelined request's head has already arrived and its response started.
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)
