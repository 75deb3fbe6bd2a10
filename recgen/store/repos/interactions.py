"""Repository functions for the interaction log (views, clicks, carts, purchases)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recgen.core.events import text_id_problem
from recgen.store.dialect import dialect_insert
from recgen.store.models import (
    EventDeadLetterRow,
    InteractionRow,
    utcnow,
)


def add_interactions(session: Session, *, events: Sequence[Mapping[str, Any]]) -> int:
    """Store interaction events; an event whose (``principal``, ``event_id``) is already stored
    is skipped (``principal`` defaults to "").

    Returns the number of new rows.
    """
    if not events:
        return 0
    values = [
        {
            "principal": e.get("principal") or "",
            "event_id": e.get("event_id"),
            "user_id": int(e["user_id"]),
            "product_id": int(e["product_id"]),
            "kind": e["kind"],
            "occurred_at": e.get("occurred_at") or utcnow(),
            "value": e.get("value"),
            "exposure_id": e.get("exposure_id"),
        }
        for e in events
    ]
    stmt = dialect_insert(session, InteractionRow).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=[InteractionRow.principal, InteractionRow.event_id]
    )
    # The rows go as parameters, not as .values(rows): a statement built for N rows is
    # compiled anew on every call (about 1 ms each), this one once per process. RETURNING
    # counts the new rows (psycopg reports no rowcount for a batch of parameter sets).
    return len(session.execute(stmt.returning(InteractionRow.id), values).all())


def stored_event_ids(
    session: Session, *, principal: str, event_ids: Sequence[str]
) -> set[str]:
    """Those of ``principal``'s event ids that are already stored (one query; none for no
    ids). Another principal's ids are not looked at: ids are scoped per principal."""
    if not event_ids:
        return set()
    stmt = select(InteractionRow.event_id).where(
        InteractionRow.principal == principal, InteractionRow.event_id.in_(list(event_ids))
    )
    return {event_id for event_id in session.scalars(stmt) if event_id is not None}


def add_dead_letters(session: Session, *, letters: Sequence[Mapping[str, Any]]) -> None:
    """Store events that could not be stored, each with ``field`` and ``reason``; the event
    itself becomes ASCII JSON (``payload``), which any text column holds."""
    session.add_all(
        EventDeadLetterRow(
            principal=str(letter.get("principal") or "")[:128],
            event_id=_storable_id(letter["event"].get("event_id")),
            field=str(letter["field"])[:32],
            reason=str(letter["reason"]),
            payload=json.dumps(letter["event"], ensure_ascii=True, default=str),
        )
        for letter in letters
    )
    session.flush()


def _storable_id(value: Any) -> str | None:
    """The event id if the column can hold it (the payload always keeps the original)."""
    return value if isinstance(value, str) and text_id_problem(value) is None else None


def dead_letters(session: Session, *, principal: str | None = None) -> list[EventDeadLetterRow]:
    """Dead-lettered events, oldest first (all principals' when ``principal`` is None)."""
    stmt = select(EventDeadLetterRow).order_by(EventDeadLetterRow.id)
    if principal is not None:
        stmt = stmt.where(EventDeadLetterRow.principal == principal)
    return list(session.scalars(stmt))


def interactions_for_users(
    session: Session, *, user_ids: Sequence[int]
) -> dict[int, list[InteractionRow]]:
    """Each user's stored interactions, oldest first, in one query (every id is a key)."""
    by_user: dict[int, list[InteractionRow]] = {int(u): [] for u in user_ids}
    stmt = select(InteractionRow).where(InteractionRow.user_id.in_(list(by_user)))
    for row in session.scalars(stmt.order_by(InteractionRow.occurred_at)):
        by_user[row.user_id].append(row)
    return by_user


def iter_interaction_log(
    session: Session, *, batch_size: int = 50_000
) -> Iterable[tuple[int, int, str, datetime]]:
    """Every interaction as (user_id, product_id, kind, occurred_at), streamed by row id."""
    last_id = 0
    columns = (InteractionRow.id, InteractionRow.user_id, InteractionRow.product_id,
               InteractionRow.kind, InteractionRow.occurred_at)
    while True:
        rows = session.execute(
            select(*columns).where(InteractionRow.id > last_id).order_by(InteractionRow.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row[1], row[2], row[3], row[4]
        last_id = rows[-1][0]


def click_counts(session: Session) -> dict[int, float]:
    """Clicks per product id over the whole log: the popularity the feed's candidates are
    blended with (products nobody clicked are absent)."""
    rows = session.execute(
        select(InteractionRow.product_id, func.count())
        .where(InteractionRow.kind == "click")
        .group_by(InteractionRow.product_id)
    )
    return {int(product_id): float(count) for product_id, count in rows}


def has_interactions(session: Session, *, user_id: int) -> bool:
    """Whether any interaction of ``user_id`` is stored (an index probe, LIMIT 1)."""
    stmt = select(InteractionRow.id).where(InteractionRow.user_id == int(user_id)).limit(1)
    return session.scalar(stmt) is not None
