"""The deadline of each async Redis call the API makes.

The API's async client is built without ``socket_timeout``: with one, redis-py
(``redis/asyncio/connection.py``, ``send_packed_command``) wraps every command's send in
``asyncio.wait_for``, which on Python 3.11 creates a Task per command (and its reads get a timer
each): about 3 % of a feed worker's CPU under load (py-spy), and 3 of the 10 % fewer instructions
per feed request measured after this change (callgrind). Without a socket timeout
nothing stops a call to a Redis that accepts and never answers, so every async call on the API's
paths goes through :func:`redis_call` instead: one ``asyncio.timeout`` (a timer, no Task) over
the whole call (connection, retries, reply). A missed deadline raises ``redis.TimeoutError``, which
the handlers of a lost Redis already turn into a stock feed or a 503.

redis-py closes a connection whose command was cancelled mid-way, so a late reply can never be
read as the answer to the next command. A cancelled script may still have run on the server
(its exposure entry logged although the user got the stock feed), as with a socket timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import redis

T = TypeVar("T")


async def redis_call(call: Awaitable[T], seconds: float) -> T:
    """``await call``, or ``redis.TimeoutError`` when it takes longer than ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:  # the deadline's (redis.TimeoutError is not a TimeoutError)
        raise redis.TimeoutError(f"no answer from Redis within {seconds:g} s") from None
