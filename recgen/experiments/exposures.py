"""Exposure logging that is cheap on the serving path and never loses an acknowledged exposure.

The feed appends one entry per response to a Redis stream in the same atomic call that reads the
user's content (see ``recgen.api.services.feed``), so logging costs no extra round trip and no SQL.
An entry is a :class:`recgen.core.keys.ExposureEntry`. A drainer moves entries to the
``exposures`` table in batches through a consumer group:

* an entry is deleted from the stream only after the SQL transaction holding its rows commits;
* a drainer that dies mid-batch leaves its entries pending; another drainer claims them after
  ``claim_idle_ms`` (XAUTOCLAIM), so delivery to SQL is at-least-once;
* rows are inserted with ON CONFLICT (id) DO NOTHING, so a redelivered entry is stored once.

Guarantee: every exposure whose feed response was sent is in Redis before the response leaves
(the XADD is in the script the response waits for; if it fails the request fails) and reaches
SQL exactly once as long as Redis keeps the entry (with AOF ``appendfsync everysec`` a Redis
crash can lose at most the last second). Malformed entries go to a dead-letter stream for a human.
When Redis itself is down the feed serves stock content and writes its entry straight to SQL
(:func:`store_entry`); if the database is down too, that one response's exposures are lost and
logged as an error.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy.orm import Session, sessionmaker

from recgen.core.keys import (
    EXPOSURE_DRAIN_GROUP,
    EXPOSURE_ENTRY,
    ExposureEntry,
    dead_letter_stream,
)
from recgen.store.db import session_scope
from recgen.store.repos.experiments import add_exposures

log = logging.getLogger(__name__)
# PostgreSQL allows 65,535 bind parameters per statement; 8 columns x 2,000 rows stays clear.
_INSERT_CHUNK = 2000


def exposure_rows(entry: ExposureEntry) -> list[dict[str, Any]]:
    """Rows for ``add_exposures`` from an entry."""
    served_at = datetime.fromtimestamp(entry["t"], UTC)
    return [
        {
            "id": eid,
            "experiment_id": entry["e"],
            "user_id": entry["u"],
            "product_id": pid,
            "arm": entry["a"],
            "content": content,
            "asset_key": key,
            "served_at": served_at,
        }
        for eid, pid, content, key in entry["i"]
    ]


def decode_entry(payload: bytes) -> list[dict[str, Any]]:
    """Rows for ``add_exposures``; raises ValueError on a malformed entry.

    The serving script writes ids as strings (Lua formats them): parsing makes them ints.
    """
    try:
        return exposure_rows(EXPOSURE_ENTRY.validate_json(payload))
    except (ValueError, OverflowError, OSError) as exc:  # a ValidationError, or a bad "t"
        raise ValueError(f"malformed exposure entry: {exc}") from exc


def store_entry(sessions: sessionmaker[Session], entry: ExposureEntry) -> int:
    """Write one entry's exposures to SQL directly, for when the stream (Redis) is down."""
    with session_scope(sessions) as session:
        return add_exposures(session, exposures=exposure_rows(entry))


class ExposureDrainer:
    """Moves exposure entries from the Redis stream to SQL in batches (see module doc)."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        sessions: sessionmaker[Session],
        *,
        stream: str,
        batch: int = 500,
        consumer: str | None = None,
        claim_idle_ms: int = 60_000,
    ) -> None:
        self._redis = client
        self._sessions = sessions
        self._stream = stream
        self._batch = batch
        self._consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._claim_idle_ms = claim_idle_ms
        self._group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._redis.xgroup_create(self._stream, EXPOSURE_DRAIN_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _fetch(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # Entries a dead drainer left pending come first, then new ones.
        claimed = self._redis.xautoclaim(
            self._stream,
            EXPOSURE_DRAIN_GROUP,
            self._consumer,
            self._claim_idle_ms,
            "0-0",
            count=self._batch,
        )
        entries: list[tuple[bytes, dict[bytes, bytes]]] = [e for e in claimed[1] if e[1]]
        if len(entries) < self._batch:
            fresh = self._redis.xreadgroup(
                EXPOSURE_DRAIN_GROUP,
                self._consumer,
                {self._stream: ">"},
                count=self._batch - len(entries),
            )
            for _stream, stream_entries in fresh or []:
                entries.extend(stream_entries)
        return entries

    def drain_once(self) -> tuple[int, int]:
        """Drain up to one batch; return (stream entries handled, exposure rows written)."""
        self._ensure_group()
        entries = self._fetch()
        if not entries:
            return 0, 0
        rows: list[dict[str, Any]] = []
        dead: list[dict[bytes, bytes]] = []
        for entry_id, fields in entries:
            try:
                rows.extend(decode_entry(fields[b"v"]))
            except (KeyError, ValueError) as exc:
                log.error("exposure entry %r moved to dead letters: %s", entry_id, exc)
                dead.append(fields)
        written = 0
        with session_scope(self._sessions) as session:
            for start in range(0, len(rows), _INSERT_CHUNK):
                written += add_exposures(session, exposures=rows[start : start + _INSERT_CHUNK])
        ids = [entry_id for entry_id, _ in entries]
        pipe = self._redis.pipeline(transaction=True)
        for fields in dead:
            pipe.xadd(dead_letter_stream(self._stream), fields)
        pipe.xack(self._stream, EXPOSURE_DRAIN_GROUP, *ids)
        pipe.xdel(self._stream, *ids)
        pipe.execute()
        return len(entries), written

    def drain_all(self) -> int:
        """Drain until the stream has nothing left for this group; return rows written."""
        total = 0
        while True:
            entries, written = self.drain_once()
            total += written
            if entries == 0:
                return total
