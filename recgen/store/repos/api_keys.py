"""Repository functions for API keys: only the sha256 of a key is ever stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from recgen.store.models import ApiKeyRow, utcnow

SCOPES = ("backend", "recommender", "admin")
KEY_PREFIX = "rg_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(
    session: Session, *, name: str, scopes: Sequence[str], key: str | None = None
) -> tuple[ApiKeyRow, str]:
    """Store a key's hash; return the row and the key itself (shown once, never stored)."""
    bad = sorted(set(scopes) - set(SCOPES))
    if bad or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {list(SCOPES)}, got {bad or []}")
    plain = key or new_key()
    row = ApiKeyRow(
        name=name,
        key_hash=hash_key(plain),
        scopes=sorted(set(scopes)),
        created_at=utcnow(),
        revoked=False,
    )
    session.add(row)
    session.flush()
    return row, plain


def find_api_key(session: Session, *, key_hash: str) -> ApiKeyRow | None:
    """The active (not revoked) key with this hash."""
    return session.scalar(
        select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked.is_(False))
    )


def get_api_key_by_name(session: Session, *, name: str) -> ApiKeyRow | None:
    return session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))


def revoke_api_key(session: Session, *, name: str) -> bool:
    row = get_api_key_by_name(session, name=name)
    if row is None or row.revoked:
        return False
    row.revoked = True
    return True


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)))
