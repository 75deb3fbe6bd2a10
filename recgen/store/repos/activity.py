"""Read-only queries behind the dashboard: users, their history, the asset audit, exposures.

Like the repository, every function takes the caller's session and never commits. What each
returns is bounded (a page of users, one user's history, one set of keys, aggregates over a time
window or a few experiments). The aggregates filter ``generated_assets.created_at`` and
``exposures.experiment_id``; the first has no index, so on a large audit table they cost a scan
per dashboard load (see docs/dashboard.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from recgen.store.models import (
    ExposureRow,
    GeneratedAssetRow,
    InteractionRow,
    ProductRow,
    UserProfileRow,
    UserRow,
)

_VALUES = re.compile(r"'[^']*'|\d+(?:\.\d+)?")
# Product attributes a user's history is summarised by (the ones the text engine's controls use).
MIX_ATTRIBUTES = ("usage", "colour_group", "article_type")


def users_page(session: Session, *, after_id: int = 0, limit: int = 50) -> list[dict[str, Any]]:
    """Users with id > ``after_id`` (keyset page): attributes, profile summary, event count."""
    rows = session.execute(
        select(UserRow, UserProfileRow)
        .outerjoin(UserProfileRow, UserProfileRow.user_id == UserRow.id)
        .where(UserRow.id > after_id)
        .order_by(UserRow.id)
        .limit(limit)
    ).all()
    ids = [user.id for user, _ in rows]
    events: dict[int, int] = {}
    if ids:
        counts = session.execute(
            select(InteractionRow.user_id, func.count())
            .where(InteractionRow.user_id.in_(ids))
            .group_by(InteractionRow.user_id)
        ).all()
        events = {int(user_id): int(n) for user_id, n in counts}
    return [
        {
            "user_id": user.id,
            "gender": user.gender,
            "age": user.age,
            "events": int(events.get(user.id, 0)),
            "persona_id": profile.persona_id if profile is not None else None,
        }
        for user, profile in rows
    ]


def user_record(session: Session, *, user_id: int) -> dict[str, Any] | None:
    """The user row and their stored profile summary (not the vector), or None if unknown."""
    user = session.get(UserRow, user_id)
    if user is None:
        return None
    profile = session.get(UserProfileRow, user_id)
    return {
        "user_id": user.id,
        "gender": user.gender,
        "age": user.age,
        "signup_preferences": dict(user.signup_preferences or {}),
        "created_at": user.created_at,
        "profile": None
        if profile is None
        else {
            "model_version": profile.model_version,
            "persona_id": profile.persona_id,
            "event_count": profile.event_count,
            "updated_at": profile.updated_at,
        },
    }


def interaction_mix(session: Session, *, user_id: int) -> dict[str, dict[str, dict[str, int]]]:
    """``{attribute: {value: {kind: count}}}`` over the user's whole history."""
    columns = [getattr(ProductRow, a) for a in MIX_ATTRIBUTES]
    rows = session.execute(
        select(*columns, InteractionRow.kind, func.count())
        .join(ProductRow, ProductRow.id == InteractionRow.product_id)
        .where(InteractionRow.user_id == user_id)
        .group_by(*columns, InteractionRow.kind)
    ).all()
    mix: dict[str, dict[str, dict[str, int]]] = {a: {} for a in MIX_ATTRIBUTES}
    for row in rows:
        *values, kind, count = row
        for attribute, value in zip(MIX_ATTRIBUTES, values, strict=True):
            if value:
                per_kind = mix[attribute].setdefault(value, {})
                per_kind[kind] = per_kind.get(kind, 0) + int(count)
    return mix


def recent_interactions(session: Session, *, user_id: int, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.execute(
        select(InteractionRow.occurred_at, InteractionRow.kind, ProductRow.id, ProductRow.title)
        .join(ProductRow, ProductRow.id == InteractionRow.product_id)
        .where(InteractionRow.user_id == user_id)
        .order_by(InteractionRow.occurred_at.desc(), InteractionRow.id.desc())
        .limit(limit)
    ).all()
    return [
        {"occurred_at": at, "kind": kind, "product_id": pid, "title": title}
        for at, kind, pid, title in rows
    ]


def assets_by_keys(session: Session, *, keys: Sequence[str]) -> dict[str, GeneratedAssetRow]:
    if not keys:
        return {}
    rows = session.scalars(
        select(GeneratedAssetRow).where(GeneratedAssetRow.cache_key.in_(list(keys)))
    )
    return {row.cache_key: row for row in rows}


def generation_summary(session: Session, *, since: datetime) -> list[dict[str, Any]]:
    """Per (kind, model name, model version) since ``since``: assets generated and passed."""
    passed = func.sum(case((GeneratedAssetRow.gate_passed.is_(True), 1), else_=0))
    rows = session.execute(
        select(
            GeneratedAssetRow.kind,
            GeneratedAssetRow.model_name,
            GeneratedAssetRow.model_version,
            func.count(),
            passed,
        )
        .where(GeneratedAssetRow.created_at >= since)
        .group_by(
            GeneratedAssetRow.kind, GeneratedAssetRow.model_name, GeneratedAssetRow.model_version
        )
        .order_by(GeneratedAssetRow.kind, GeneratedAssetRow.model_version)
    ).all()
    return [
        {
            "kind": kind,
            "model_name": name,
            "model_version": version,
            "generated": int(total),
            "passed": int(ok or 0),
            "rejected": int(total) - int(ok or 0),
        }
        for kind, name, version, total, ok in rows
    ]


def rejection_reasons(
    session: Session, *, since: datetime, sample: int = 2000, top: int = 8
) -> list[dict[str, Any]]:
    """The most common gate reasons among the latest ``sample`` rejections since ``since``.

    Reasons are a JSON list per row; they are counted here rather than in SQL because JSON
    array functions differ between SQLite and PostgreSQL.
    """
    rows = session.execute(
        select(GeneratedAssetRow.kind, GeneratedAssetRow.gate_reasons)
        .where(GeneratedAssetRow.created_at >= since, GeneratedAssetRow.gate_passed.is_(False))
        .order_by(GeneratedAssetRow.id.desc())
        .limit(sample)
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    for kind, reasons in rows:
        counts.update((kind, reason_label(str(r))) for r in reasons or ["unspecified"])
    return [{"kind": k, "reason": r, "count": n} for (k, r), n in counts.most_common(top)]


def reason_label(reason: str) -> str:
    """The kind of a gate reason, without the values of one case: "low_fidelity: 0.41" ->
    "low_fidelity"; "classifier sees 'Shirts' (p=0.32), not 'Watches' (p=0.06)" ->
    "classifier sees '…' (p=…), not '…' (p=…)"."""
    masked = _VALUES.sub(lambda m: "'…'" if m.group(0).startswith("'") else "…", reason)
    return masked.split(":", 1)[0]


def generation_timeline(session: Session, *, since: datetime) -> list[dict[str, Any]]:
    """Assets generated per hour and kind since ``since`` (passed and rejected)."""
    hour = _hour(session, GeneratedAssetRow.created_at)
    rows = session.execute(
        select(hour, GeneratedAssetRow.kind, GeneratedAssetRow.gate_passed, func.count())
        .where(GeneratedAssetRow.created_at >= since)
        .group_by(hour, GeneratedAssetRow.kind, GeneratedAssetRow.gate_passed)
        .order_by(hour)
    ).all()
    return [
        {"hour": str(h), "kind": kind, "passed": bool(ok), "count": int(n)}
        for h, kind, ok, n in rows
    ]


def exposure_mix(session: Session, *, experiment_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Exposures per (experiment, arm, content shown): how often an arm fell back to stock."""
    if not experiment_ids:
        return []
    rows = session.execute(
        select(ExposureRow.experiment_id, ExposureRow.arm, ExposureRow.content, func.count())
        .where(ExposureRow.experiment_id.in_(list(experiment_ids)))
        .group_by(ExposureRow.experiment_id, ExposureRow.arm, ExposureRow.content)
    ).all()
    return [
        {"experiment_id": e, "arm": arm, "content": content, "count": int(n)}
        for e, arm, content, n in rows
    ]


def _hour(session: Session, column: Any) -> ColumnElement[Any]:
    """The hour a timestamp falls in, as an ISO-like string on both dialects."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(
            func.date_trunc("hour", func.timezone("UTC", column)), 'YYYY-MM-DD"T"HH24:00'
        )
    return func.strftime("%Y-%m-%dT%H:00", column)
