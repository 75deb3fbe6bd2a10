"""Repository functions for users and their stored profile rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from recgen.store.dialect import dialect_insert
from recgen.store.models import (
    UserProfileRow,
    UserRow,
    utcnow,
)


def upsert_users(session: Session, *, users: Sequence[dict[str, Any]]) -> int:
    """Insert users (dicts with id and optional gender, age, signup_preferences) or update them."""
    if not users:
        return 0
    values = [
        {
            "id": int(u["id"]),
            "gender": u.get("gender"),
            "age": u.get("age"),
            "signup_preferences": u.get("signup_preferences") or {},
            "created_at": u.get("created_at") or utcnow(),
        }
        for u in users
    ]
    stmt = dialect_insert(session, UserRow).values(values)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[UserRow.id],
        set_={c: excluded[c] for c in ("gender", "age", "signup_preferences")},
    )
    session.execute(stmt)
    return len(values)


def get_user(session: Session, *, user_id: int) -> UserRow | None:
    return session.get(UserRow, user_id)


def forget_user_profiles(session: Session, *, user_ids: Sequence[int]) -> None:
    """Drop stored profiles so the next profile_for replays them from the interaction log
    (used when events were stored without being folded in by a worker)."""
    if user_ids:
        session.execute(delete(UserProfileRow).where(UserProfileRow.user_id.in_(set(user_ids))))


def upsert_user_profiles(session: Session, *, profiles: Sequence[dict[str, Any]]) -> int:
    """Insert or replace user_profiles rows (dicts with user_id and the row's columns)."""
    if not profiles:
        return 0
    now = utcnow()
    values = [{"updated_at": now, "persona_id": None, **p} for p in profiles]
    stmt = dialect_insert(session, UserProfileRow)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[UserProfileRow.user_id],
        set_={c: excluded[c] for c in ("model_version", "vector", "affinities", "persona_id",
                                        "event_count", "updated_at")},
    )
    session.execute(stmt, values)  # rows as parameters: compiled once (see add_interactions)
    return len(values)


def user_ages(session: Session) -> dict[int, int | None]:
    """Every user's age (None when not given), for building many profiles at once."""
    return {int(i): a for i, a in session.execute(select(UserRow.id, UserRow.age)).all()}
