"""Deterministic train/validation split by hashing an id (stable across runs and machines)."""

from __future__ import annotations

import hashlib

VALIDATION_FRACTION = 0.1


def split_of(
    key: int | str,
    *,
    salt: str = "recgen-split-v1",
    validation_fraction: float = VALIDATION_FRACTION,
) -> str:
    """Return "validation" or "train" for an id; the same id always lands in the same split."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64
    return "validation" if bucket < validation_fraction else "train"


def is_validation(
    key: int | str,
    *,
    salt: str = "recgen-split-v1",
    validation_fraction: float = VALIDATION_FRACTION,
) -> bool:
    return split_of(key, salt=salt, validation_fraction=validation_fraction) == "validation"
