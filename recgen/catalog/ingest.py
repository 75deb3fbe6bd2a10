"""Loading the catalog files (styles.csv, descriptions.jsonl) into the store, in batches, one
transaction per batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from recgen.catalog.consistency import AttributeVocabulary, CopyChecker
from recgen.catalog.descriptions import DescriptionRecord, read_descriptions
from recgen.catalog.enrich import enrich, new_product, with_copy
from recgen.catalog.styles import RejectedRow, read_styles
from recgen.core.errors import DataFileError
from recgen.core.types import Product
from recgen.store.db import session_scope
from recgen.store.repos.products import (
    get_products,
    same_copy,
    update_product_copy,
    upsert_products,
)


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


@dataclass(frozen=True, slots=True)
class DescriptionsSummary:
    """What loading a descriptions file did. ``unchanged`` products already had this copy;
    ``not_created`` are lines for products the catalog lacks that lack a field to create one."""

    rows_read: int
    created: int
    enriched: int
    unchanged: int
    rejected: list[RejectedRow]
    not_created: list[RejectedRow]
    duplicates: int
    with_description: int
    facts: int
    inconsistent: int

    @property
    def loaded(self) -> int:
        return self.created + self.enriched + self.unchanged


@dataclass(slots=True)
class _Tally:
    created: int = 0
    enriched: int = 0
    unchanged: int = 0
    with_description: int = 0
    facts: int = 0
    inconsistent: int = 0
    not_created: list[RejectedRow] = field(default_factory=list)


def load_descriptions(
    factory: sessionmaker[Session],
    *,
    path: Path,
    images_dir: Path | None,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> DescriptionsSummary:
    """Load descriptions.jsonl, one transaction per batch; idempotent on product id.

    A product already stored (from styles.csv) gets the line's copy fields and keeps its
    other fields; a product the store lacks is created from the line's own fields (its
    colour family from :mod:`recgen.catalog.colours`, its photo if ``images_dir`` has one).
    """
    if images_dir is not None and not images_dir.is_dir():
        raise DataFileError(f"images directory not found: {images_dir}")
    parsed = read_descriptions(path)
    checker = CopyChecker(
        AttributeVocabulary.from_products(r.catalog_attributes() for r in parsed.records)
    )
    tally = _Tally()
    for start in range(0, len(parsed.records), batch_size):
        batch = parsed.records[start : start + batch_size]
        with session_scope(factory) as session:
            _load_batch(session, batch, checker, images_dir, tally)
        if on_batch is not None:
            on_batch(len(batch))
    return DescriptionsSummary(
        rows_read=parsed.rows_read,
        created=tally.created,
        enriched=tally.enriched,
        unchanged=tally.unchanged,
        rejected=parsed.rejected,
        not_created=tally.not_created,
        duplicates=parsed.duplicates,
        with_description=tally.with_description,
        facts=tally.facts,
        inconsistent=tally.inconsistent,
    )


def _load_batch(
    session: Session,
    batch: list[DescriptionRecord],
    checker: CopyChecker,
    images_dir: Path | None,
    tally: _Tally,
) -> None:
    stored = get_products(session, product_ids=[r.product_id for r in batch])
    created: list[Product] = []
    changed: list[Product] = []
    for record in batch:
        base = stored.get(record.product_id) or new_product(record, images_dir)
        if base is None:
            missing = record.missing_for_new()
            reason = f"product {record.product_id} is not in the catalog and has no {missing}"
            tally.not_created.append(RejectedRow(line=record.line, reason=reason))
            continue
        enriched = enrich(record, checker)
        product = with_copy(base, record, enriched)
        tally.with_description += product.description is not None
        tally.facts += len(enriched.facts)
        tally.inconsistent += product.copy_consistent is False
        if record.product_id not in stored:
            created.append(product)
        elif not same_copy(product, stored[record.product_id]):
            changed.append(product)
        else:
            tally.unchanged += 1
    tally.created += upsert_products(session, products=created)
    tally.enriched += update_product_copy(session, products=changed)
