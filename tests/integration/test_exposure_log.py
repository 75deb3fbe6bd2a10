"""The exposure drain: batches to SQL, at-least-once with idempotent rows, dead letters."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from recgen.core.keys import EXPOSURE_DRAIN_GROUP
from recgen.experiments.exposures import ExposureDrainer, decode_entry
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import ExposureRow

pytestmark = pytest.mark.integration


def entry(token: str, user: int, n: int = 2) -> dict[str, bytes]:
    items = [[f"{token}-{i}", 100 + i, "stock", None] for i in range(1, n + 1)]
    return {"v": orjson.dumps({"u": str(user), "e": None, "a": None, "t": 1.7e9, "i": items})}


@pytest.fixture()
def conn(redis_url: str, redis_prefix: str) -> Iterator[redis.Redis[bytes]]:
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    yield client
    client.delete(f"{redis_prefix}:exposures", f"{redis_prefix}:exposures:dead")
    client.close()


@pytest.fixture()
def sessions(migrated_pg_url: str) -> sessionmaker[Session]:
    return session_factory(make_engine(migrated_pg_url))


def count(sessions: sessionmaker[Session], prefix: str) -> int:
    with session_scope(sessions) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ExposureRow)
                .where(ExposureRow.id.like(f"{prefix}%"))
            )
            or 0
        )


def test_drain_writes_rows_once_and_sets_aside_malformed_entries(
    conn: redis.Redis[bytes], sessions: sessionmaker[Session], redis_prefix: str
) -> None:
    stream = f"{redis_prefix}:exposures"
    token = redis_prefix + "a"
    conn.xadd(stream, entry(token, 5, n=3))  # type: ignore[arg-type]
    conn.xadd(stream, entry(token, 5, n=3))  # a redelivered duplicate of the same exposures
    conn.xadd(stream, {"v": b"{not json"})
    drainer = ExposureDrainer(conn, sessions, stream=stream, batch=2)
    assert drainer.drain_all() == 3
    assert count(sessions, token) == 3
    assert conn.xlen(stream) == 0
    assert conn.xlen(f"{stream}:dead") == 1


def test_entries_of_a_dead_drainer_are_claimed_by_another(
    conn: redis.Redis[bytes], sessions: sessionmaker[Session], redis_prefix: str
) -> None:
    stream = f"{redis_prefix}:exposures"
    token = redis_prefix + "b"
    first = ExposureDrainer(conn, sessions, stream=stream, consumer="dies")
    first.drain_once()  # creates the group
    conn.xadd(stream, entry(token, 6))  # type: ignore[arg-type]
    # "dies" reads the entry and crashes before writing it.
    conn.xreadgroup(EXPOSURE_DRAIN_GROUP, "dies", {stream: ">"}, count=10)
    healthy = ExposureDrainer(conn, sessions, stream=stream, consumer="lives", claim_idle_ms=0)
    assert healthy.drain_all() == 2
    assert count(sessions, token) == 2
    assert conn.xpending(stream, EXPOSURE_DRAIN_GROUP)["pending"] == 0


def test_decode_refuses_entries_missing_fields() -> None:
    with pytest.raises(ValueError, match="malformed"):
        decode_entry(orjson.dumps({"u": "1", "t": 1.0}))


def test_drained_rows_keep_every_value(
    conn: redis.Redis[bytes], sessions: sessionmaker[Session], redis_prefix: str
) -> None:
    """The drain's binary COPY stores each column as sent: 64-bit user ids, nulls, and text
    that a text-format COPY would have to escape (tab, newline, backslash, non-ASCII)."""
    stream = f"{redis_prefix}:exposures"
    token = redis_prefix + "c"
    awkward = "text:v1:42:p\t3 image:v1:42:p\\3\nñ"
    items = [[f"{token}-1", 42, "generated", awkward], [f"{token}-2", 43, "stock", None]]
    payload = {"u": 2**40 + 7, "e": None, "a": "stock", "t": 1_700_000_000.25, "i": items}
    conn.xadd(stream, {"v": orjson.dumps(payload)})
    assert ExposureDrainer(conn, sessions, stream=stream).drain_all() == 2
    with session_scope(sessions) as session:
        rows = session.scalars(
            select(ExposureRow).where(ExposureRow.id.like(f"{token}%")).order_by(ExposureRow.id)
        ).all()
        stored = [
            (r.id, r.experiment_id, r.user_id, r.product_id, r.arm, r.content, r.asset_key,
             r.served_at.timestamp())
            for r in rows
        ]
    assert stored == [
        (f"{token}-1", None, 2**40 + 7, 42, "stock", "generated", awkward, 1_700_000_000.25),
        (f"{token}-2", None, 2**40 + 7, 43, "stock", "stock", None, 1_700_000_000.25),
    ]
