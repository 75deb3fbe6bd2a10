"""redis_call: the deadline of the API's async Redis calls (no Redis needed)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from recgen.api.redis_deadline import redis_call


async def answer(value: int, after: float = 0.0) -> int:
    await asyncio.sleep(after)
    return value


def test_an_answer_in_time_is_returned() -> None:
    assert asyncio.run(redis_call(answer(7), 1.0)) == 7


def test_a_missed_deadline_is_a_redis_timeout_and_cancels_the_call() -> None:
    cancelled = []

    async def stalled() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    started = time.monotonic()
    with pytest.raises(redis.TimeoutError, match=r"within 0\.05 s"):
        asyncio.run(redis_call(stalled(), 0.05))
    assert time.monotonic() - started < 1.0
    assert cancelled == [True]


def test_redis_errors_pass_through_unchanged() -> None:
    async def refused() -> None:
        raise redis.ConnectionError("refused")

    with pytest.raises(redis.ConnectionError, match="refused"):
        asyncio.run(redis_call(refused(), 1.0))


def test_an_outer_cancellation_is_not_turned_into_a_timeout() -> None:
    async def main() -> None:
        task = asyncio.create_task(redis_call(answer(1, after=60), 60))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
