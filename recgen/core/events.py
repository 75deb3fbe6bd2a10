"""What an interaction event may hold: the limits the API refuses at the boundary and the
worker checks again before storing (a task may come from an older API, a replay or a hand).

Every limit is what the store can hold and read back: PostgreSQL text cannot hold NUL, a
timestamp before year 1 UTC is stored as BC and psycopg cannot read it back, NaN and Infinity
break every sum the profiles and reports make.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

EVENT_KINDS = ("view", "click", "add_to_cart", "purchase")
# Text ids: 1..64 characters (the column is VARCHAR(64)), no control characters (C0, DEL, C1):
# NUL cannot be stored, and the others are never part of a real id, only of a careless client.
MAX_ID_CHARS = 64
TEXT_ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]{1,64}$"
_TEXT_ID = re.compile(TEXT_ID_PATTERN)
# The API accepts events at most this old: later than that they are a replay of history, which
# belongs in a bulk import, not in live profiles.
MAX_EVENT_AGE = timedelta(days=30)
# Clocks drift; an event from further in the future than this is a client bug.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# The worker's wider window: a task may wait in the queue (retries, an outage), so it only
# refuses what cannot be a live event at all.
WORKER_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
WORKER_SKEW = timedelta(days=1)
# An order value (purchase amount, quantity): finite, non-negative, below this.
MAX_VALUE = 1e12
MAX_ID = 2**63 - 1
MAX_PRODUCT_ID = 2**31 - 1
# The API key's name (api_keys.name is VARCHAR(128)).
MAX_PRINCIPAL_CHARS = 128


def text_id_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not _TEXT_ID.match(value):
        return f"must be 1..{MAX_ID_CHARS} characters without control characters"
    return None


def occurred_at_problem(value: Any, *, now: datetime) -> str | None:
    """Why the worker cannot store ``value`` as an event time (None: it can)."""
    if value is None:
        return None
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return "is not an ISO 8601 timestamp"
    if when.tzinfo is None:
        return "has no time zone"
    try:
        if WORKER_EARLIEST <= when <= now + WORKER_SKEW:
            return None
    except OverflowError:  # year 1 with a positive offset is before year 1 UTC
        pass
    return f"is outside {WORKER_EARLIEST.date()} .. now + {WORKER_SKEW}"


def _int_problem(value: Any, top: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        return f"must be an integer in 1..{top}"
    return None


def _value_problem(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if not math.isfinite(value) or not 0 <= value <= MAX_VALUE:
        return f"must be finite and in 0..{MAX_VALUE:g}"
    return None


def _principal_problem(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_PRINCIPAL_CHARS:
        return None
    return f"must be a string of at most {MAX_PRINCIPAL_CHARS} characters"


def event_problem(event: Mapping[str, Any], *, now: datetime) -> tuple[str, str] | None:
    """(field, reason) of the first field of ``event`` the store cannot hold, else None."""
    checks: list[tuple[str, str | None]] = [
        ("event_id", text_id_problem(event.get("event_id"))),
        ("user_id", _int_problem(event.get("user_id"), MAX_ID)),
        ("product_id", _int_problem(event.get("product_id"), MAX_PRODUCT_ID)),
        ("kind", None if event.get("kind") in EVENT_KINDS else f"must be one of {EVENT_KINDS}"),
        ("occurred_at", occurred_at_problem(event.get("occurred_at"), now=now)),
        ("value", _value_problem(event.get("value"))),
        ("exposure_id", None if event.get("exposure_id") is None
         else text_id_problem(event.get("exposure_id"))),
        ("principal", _principal_problem(event.get("principal", ""))),
    ]
    return next(((field, reason) for field, reason in checks if reason is not None), None)
