"""Repository functions for the audit rows of generated assets (one per cache key)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recgen.store.dialect import dialect_insert
from recgen.store.models import (
    GeneratedAssetRow,
    utcnow,
)


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
    stmt = dialect_insert(session, GeneratedAssetRow).values(
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
    stmt = dialect_insert(session, GeneratedAssetRow).on_conflict_do_nothing(  # type: ignore[attr-defined]
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
