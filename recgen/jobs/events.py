"""The record-events job: store a batch of interaction events, fold the new ones into the
users' profiles, and dead-letter (never drop) an event that cannot be stored.

The API refuses every event the store cannot hold, but a task may come from an older API, a
replay or a hand, so each event is checked again here (:func:`recgen.core.events.event_problem`)
and an insert the database refuses (an unknown product, say) is retried row by row: one bad
event costs itself, never its batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from recgen.core.events import event_problem
from recgen.core.types import UserEvent
from recgen.jobs.context import JobContext
from recgen.store.db import session_scope
from recgen.store.models import utcnow
from recgen.store.repos.interactions import add_dead_letters, add_interactions, stored_event_ids

log = logging.getLogger(__name__)
Event = Mapping[str, Any]
# What the database answers for one bad row; anything else (a lost connection) is transient
# and fails the whole task, to be retried.
_ROW_REFUSED = (DataError, IntegrityError)


def record_events(ctx: JobContext, *, events: Sequence[Event]) -> dict[str, Any]:
    """Store the events (idempotent per (principal, event_id)) and fold the new ones into
    profiles; each event that cannot be stored is dead-lettered with its field and reason.

    A redelivered batch finds its event ids stored and changes nothing.
    """
    now = utcnow()
    checked: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []
    for event in events:
        found = event_problem(event, now=now)
        if found is None:
            checked.append({**event, "occurred_at": _when(event.get("occurred_at"), now)})
        else:
            letters.append(_letter(event, *found))
    with session_scope(ctx.sessions) as session:
        fresh, repeated = _unseen(session, checked)
        letters += repeated
        stored, count, refused = _insert(session, fresh)
        letters += refused
        if letters:
            add_dead_letters(session, letters=letters)
        by_user: dict[int, list[UserEvent]] = defaultdict(list)
        for event in stored:
            by_user[int(event["user_id"])].append(
                UserEvent(int(event["product_id"]), str(event["kind"]), event["occurred_at"])
            )
        if by_user:
            ctx.profiles.record_events(session, events=by_user)
    if letters:
        log.warning("record_events: %d of %d events dead-lettered: %s", len(letters),
                    len(events), "; ".join(f"{x['field']}: {x['reason']}" for x in letters[:5]))
    return {"received": len(events), "stored": count, "dead_lettered": len(letters)}


def _letter(event: Event, field: str, reason: str) -> dict[str, Any]:
    principal = event.get("principal")
    return {"principal": principal if isinstance(principal, str) else "", "event": dict(event),
            "field": field, "reason": reason}


def _unseen(
    session: Session, events: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events whose (principal, event_id) is not stored yet. Inside the batch, a repeat
    equal to the first is a resend (skipped); a repeat that differs is dead-lettered, since
    either could be the one the client meant (a view and a purchase under one id)."""
    ids_by_principal: dict[str, list[str]] = defaultdict(list)
    for event in events:
        ids_by_principal[event.get("principal") or ""].append(event["event_id"])
    stored = {(principal, event_id) for principal, ids in ids_by_principal.items()
              for event_id in stored_event_ids(session, principal=principal, event_ids=ids)}
    first: dict[tuple[str, str], dict[str, Any]] = {}
    fresh, repeated = [], []
    for event in events:
        key = (event.get("principal") or "", event["event_id"])
        if key in stored:
            continue
        if key in first:
            if first[key] != event:
                repeated.append(_letter(event, "event_id", "repeats an event id of this batch "
                                        "with different fields"))
            continue
        first[key] = event
        fresh.append(event)
    return fresh, repeated


def _insert(
    session: Session, events: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    """(events stored, new rows, dead letters): the batch in one insert; if the database
    refuses it, row by row, each in a savepoint, so only the refused rows are left out. (New
    rows can be fewer than the events when a concurrent delivery stored some first.)"""
    if not events:
        return [], 0, []
    try:
        with session.begin_nested():
            count = add_interactions(session, events=events)
        return list(events), count, []
    except _ROW_REFUSED:
        pass
    stored, count, refused = [], 0, []
    for event in events:
        try:
            with session.begin_nested():
                count += add_interactions(session, events=[event])
            stored.append(event)
        except _ROW_REFUSED as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            refused.append(_letter(event, "row", f"the database refused it: {reason}"))
    return stored, count, refused


def _when(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
