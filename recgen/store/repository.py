"""Repository functions for catalog, users, interactions and asset audit records.

Every function takes the session as its first argument and keyword-only data; none of them
opens, commits or closes a session (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from recgen.store.models import (
    GeneratedAssetRow,
    InteractionRow,
    ProductRow,
    UserProfileRow,
    UserRow,
    utcnow,
)
from recgen.types import Product

# ORM column names equal the Product field names (except the primary key).
_PRODUCT_COLUMNS = (
    "gender",
    "master_category",
    "sub_category",
    "article_type",
    "base_colour",
    "colour_group",
    "season",
    "usage",
    "title",
    "image_path",
)


def _insert(session: Session, table: Any) -> Insert:
    """A dialect-specific INSERT that supports ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


def product_from_row(row: ProductRow) -> Product:
    return Product(
        product_id=row.id,
        gender=row.gender,
        master_category=row.master_category,
        sub_category=row.sub_category,
        article_type=row.article_type,
        base_colour=row.base_colour,
        colour_group=row.colour_group,
        season=row.season,
        usage=row.usage,
        title=row.title,
        image_path=row.image_path,
    )


def upsert_products(session: Session, *, products: Sequence[Product]) -> int:
    """Insert or update products by id; re-running with the same data never duplicates."""
    if not products:
        return 0
    now = utcnow()
    values = [
        {"id": p.product_id, "updated_at": now, **{c: getattr(p, c) for c in _PRODUCT_COLUMNS}}
        for p in products
    ]
    stmt = _insert(session, ProductRow)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[ProductRow.id],
        set_={c: excluded[c] for c in (*_PRODUCT_COLUMNS, "updated_at")},
    )
    # executemany form: SQLAlchemy batches it ("insertmanyvalues") without compiling one
    # giant statement per batch, which dominated load time.
    session.execute(stmt, values)
    return len(values)


def count_products(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ProductRow)) or 0)


def get_products(session: Session, *, product_ids: Iterable[int]) -> dict[int, Product]:
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    rows = session.scalars(select(ProductRow).where(ProductRow.id.in_(ids)))
    return {row.id: product_from_row(row) for row in rows}


def iter_products(session: Session, *, batch_size: int = 5000) -> Iterable[Product]:
    """All products ordered by id, streamed in batches."""
    last_id = -1
    while True:
        rows = list(
            session.scalars(
                select(ProductRow)
                .where(ProductRow.id > last_id)
                .order_by(ProductRow.id)
                .limit(batch_size)
            )
        )
        if not rows:
            return
        for row in rows:
            yield product_from_row(row)
        last_id = rows[-1].id


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
    stmt = _insert(session, UserRow).values(values)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[UserRow.id],
        set_={c: excluded[c] for c in ("gender", "age", "signup_preferences")},
    )
    session.execute(stmt)
    return len(values)


def get_user(session: Session, *, user_id: int) -> UserRow | None:
    return session.get(UserRow, user_id)


def add_interactions(session: Session, *, events: Sequence[dict[str, Any]]) -> int:
    """Store interaction events; an event whose ``event_id`` is already stored is skipped.

    Returns the number of new rows.
    """
    if not events:
        return 0
    values = [
        {
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
    stmt = _insert(session, InteractionRow).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=[InteractionRow.event_id]
    )
    # The rows go as parameters, not as .values(rows): a statement built for N rows is
    # compiled anew on every call (about 1 ms each), this one once per process. RETURNING
    # counts the new rows (psycopg reports no rowcount for a batch of parameter sets).
    return len(session.execute(stmt.returning(InteractionRow.id), values).all())


def forget_user_profiles(session: Session, *, user_ids: Sequence[int]) -> None:
    """Drop stored profiles so the next profile_for replays them from the interaction log
    (used when events were stored without being folded in by a worker)."""
    if user_ids:
        session.execute(delete(UserProfileRow).where(UserProfileRow.user_id.in_(set(user_ids))))


def interactions_for_users(
    session: Session, *, user_ids: Sequence[int]
) -> dict[int, list[InteractionRow]]:
    """Each user's stored interactions, oldest first, in one query (every id is a key)."""
    by_user: dict[int, list[InteractionRow]] = {int(u): [] for u in user_ids}
    stmt = select(InteractionRow).where(InteractionRow.user_id.in_(list(by_user)))
    for row in session.scalars(stmt.order_by(InteractionRow.occurred_at)):
        by_user[row.user_id].append(row)
    return by_user


def record_asset(
    session: Session,
    *,
    kind: str,
    product_id: int,
    model_name: str,
    model_version: str,
    seed: int,
    conditions: dict[str, Any],
    gate_passed: bool,
    gate_reasons: Sequence[str],
    cache_key: str,
    user_id: int | None = None,
    persona_id: int | None = None,
) -> bool:
    """Write the audit row for a generated asset once per cache key. True if newly written."""
    stmt = _insert(session, GeneratedAssetRow).values(
        kind=kind,
        user_id=user_id,
        persona_id=persona_id,
        product_id=product_id,
        model_name=model_name,
        model_version=model_version,
        seed=seed,
        conditions=conditions,
        gate_passed=gate_passed,
        gate_reasons=list(gate_reasons),
        cache_key=cache_key,
        created_at=utcnow(),
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=[GeneratedAssetRow.cache_key])  # type: ignore[attr-defined]
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def record_assets(session: Session, *, assets: Sequence[dict[str, Any]]) -> None:
    """Batch form of :func:`record_asset` (dicts of its keyword arguments), one statement.

    A feed refresh writes hundreds of audit rows per task; one round trip each dominated
    the task's SQL time.
    """
    if not assets:
        return
    now = utcnow()
    rows = [{**a, "gate_reasons": list(a["gate_reasons"]), "created_at": now} for a in assets]
    stmt = _insert(session, GeneratedAssetRow).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=[GeneratedAssetRow.cache_key]
    )
    session.execute(stmt, rows)


def assets_for_product(session: Session, *, product_id: int) -> list[GeneratedAssetRow]:
    return list(
        session.scalars(
            select(GeneratedAssetRow)
            .where(GeneratedAssetRow.product_id == product_id)
            .order_by(GeneratedAssetRow.id)
        )
    )


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


def upsert_user_profiles(session: Session, *, profiles: Sequence[dict[str, Any]]) -> int:
    """Insert or replace user_profiles rows (dicts with user_id and the row's columns)."""
    if not profiles:
        return 0
    now = utcnow()
    values = [{"updated_at": now, "persona_id": None, **p} for p in profiles]
    stmt = _insert(session, UserProfileRow)
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
