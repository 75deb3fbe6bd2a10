"""Loading a catalog file into the store, in batches, one transaction per batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from recgen.catalog.styles import RejectedRow, read_styles
from recgen.core.errors import DataFileError
from recgen.core.types import Product
from recgen.store.db import session_scope
from recgen.store.repos.products import upsert_products


@dataclass(frozen=True, slots=True)
class LoadSummary:
    rows_read: int
    loaded: int
    with_image: int
    rejected: list[RejectedRow]
    duplicates: int


def load_catalog(
    factory: sessionmaker[Session],
    *,
    styles: Path,
    images_dir: Path | None,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
    keep: Callable[[Product], bool] | None = None,
) -> LoadSummary:
    """Upsert every valid product (or those ``keep`` accepts), one transaction per batch;
    idempotent on product id."""
    if images_dir is not None and not images_dir.is_dir():
        raise DataFileError(f"images directory not found: {images_dir}")
    catalog = read_styles(styles, images_dir)
    if keep is not None:
        catalog.products = [p for p in catalog.products if keep(p)]
    loaded = 0
    for start in range(0, len(catalog.products), batch_size):
        batch = catalog.products[start : start + batch_size]
        with session_scope(factory) as session:
            loaded += upsert_products(session, products=batch)
        if on_batch is not None:
            on_batch(len(batch))
    return LoadSummary(
        rows_read=catalog.rows_read,
        loaded=loaded,
        with_image=sum(p.image_path is not None for p in catalog.products),
        rejected=catalog.rejected,
        duplicates=catalog.duplicates,
    )
