"""Repository functions for users and their stored profile rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
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


def get_users(session: Session, *, user_ids: Sequence[int]) -> dict[int, UserRow]:
    """User id -> row for those of these users that exist, in one query."""
    if not user_ids:
        return {}
    rows = session.scalars(select(UserRow).where(UserRow.id.in_(list(user_ids))))
    return {row.id: row for row in rows}


def user_ids_after(session: Session, *, after: int, limit: int) -> list[int]:
    """Up to ``limit`` user ids greater than ``after``, in id order (one page of a scan)."""
    return list(session.scalars(
        select(UserRow.id).where(UserRow.id > after).order_by(UserRow.id).limit(limit)))


def get_user_profile(session: Session, *, user_id: int) -> UserProfileRow | None:
    return session.get(UserProfileRow, user_id)


def get_user_profiles(session: Session, *, user_ids: Sequence[int]
                      ) -> dict[int, UserProfileRow]:
    """User id -> stored profile row for those of these users that have one, in one query."""
    if not user_ids:
        return {}
    rows = session.scalars(
        select(UserProfileRow).where(UserProfileRow.user_id.in_(list(user_ids))))
    return {row.user_id: row for row in rows}


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


def set_profile_personas(session: Session, *, personas: Mapping[int, int]) -> None:
    """Store each user's persona id (user id -> persona id) on their profile row."""
    if personas:
        session.execute(update(UserProfileRow),
                        [{"user_id": u, "persona_id": p} for u, p in personas.items()])


def count_current_profiles(session: Session, *, model_version: str, vector_bytes: int) -> int:
    """How many profile rows have this model version, events and a vector of this size."""
    return int(session.scalar(
        select(func.count()).select_from(UserProfileRow)
        .where(*_current(model_version, vector_bytes))
    ) or 0)


def current_profile_vectors(session: Session, *, model_version: str, vector_bytes: int
                            ) -> list[tuple[int, bytes]]:
    """(user id, stored vector bytes) of the rows ``count_current_profiles`` counts."""
    rows = session.execute(
        select(UserProfileRow.user_id, UserProfileRow.vector)
        .where(*_current(model_version, vector_bytes))
    ).all()
    return [(user_id, vector) for user_id, vector in rows]


def _current(model_version: str, vector_bytes: int) -> tuple[ColumnElement[bool], ...]:
    return (
        UserProfileRow.model_version == model_version,
        UserProfileRow.event_count > 0,
        func.length(UserProfileRow.vector) == vector_bytes,
    )


def user_ages(session: Session) -> dict[int, int | None]:
    """Every user's age (None when not given), for building many profiles at once."""
    return {int(i): a for i, a in session.execute(select(UserRow.id, UserRow.age)).all()}
