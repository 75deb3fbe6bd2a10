"""Repository functions for the audit rows of generated assets (one per cache key)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from recgen.store.dialect import dialect_insert
from recgen.store.models import (
    GeneratedAssetRow,
    utcnow,
)


def record_assets(session: Session, *, assets: Sequence[dict[str, Any]]) -> None:
    """Write the audit rows of generated assets, once per cache key, in one statement.

    Each dict has the row's columns: kind, product_id, model_name, model_version, seed,
    conditions, gate_passed, gate_reasons, cache_key, and optionally user_id and persona_id.
    A row whose cache key is already stored is left as it is. A feed refresh writes hundreds
    of audit rows per task; one round trip each dominated the task's SQL time.
    """
    if not assets:
        return
    now = utcnow()
    rows = [{**a, "gate_reasons": list(a["gate_reasons"]), "created_at": now} for a in assets]
    stmt = dialect_insert(session, GeneratedAssetRow).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=[GeneratedAssetRow.cache_key]
    )
    session.execute(stmt, rows)
