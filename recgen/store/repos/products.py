"""Repository functions for the product catalog.

Every function takes the session as its first argument and keyword-only data; none of them
opens, commits or closes a session (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from recgen.core.types import Product
from recgen.store.dialect import dialect_insert
from recgen.store.models import (
    ProductRow,
    utcnow,
)

# ORM column names equal the Product field names (except the primary key).
# The catalog's own fields (styles.csv):
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
# The shop's copy (descriptions.jsonl); None on a Product means "not known here".
_COPY_COLUMNS = (
    "brand",
    "price",
    "discounted_price",
    "attributes",
    "description",
    "facts",
    "copy_consistent",
)


def _value(product: Product, column: str) -> object:
    value = getattr(product, column)
    # JSON columns take plain dicts (a Product may carry any Mapping).
    return dict(value) if column in ("attributes", "facts") and value is not None else value


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
        brand=row.brand,
        price=row.price,
        discounted_price=row.discounted_price,
        attributes=row.attributes,
        description=row.description,
        facts=row.facts,
        copy_consistent=row.copy_consistent,
    )


def upsert_products(session: Session, *, products: Sequence[Product]) -> int:
    """Insert or update products by id; re-running with the same data never duplicates.

    A copy field that is None keeps what is stored, so reloading styles.csv (which has no
    copy) leaves the loaded descriptions alone.
    """
    if not products:
        return 0
    now = utcnow()
    columns = (*_PRODUCT_COLUMNS, *_COPY_COLUMNS)
    values = [
        {"id": p.product_id, "updated_at": now, **{c: _value(p, c) for c in columns}}
        for p in products
    ]
    stmt = dialect_insert(session, ProductRow)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[ProductRow.id],
        set_={
            **{c: excluded[c] for c in (*_PRODUCT_COLUMNS, "updated_at")},
            **{c: func.coalesce(excluded[c], getattr(ProductRow, c)) for c in _COPY_COLUMNS},
        },
    )
    # executemany form: SQLAlchemy batches it ("insertmanyvalues") without compiling one
    # giant statement per batch, which dominated load time.
    session.execute(stmt, values)
    return len(values)


def update_product_copy(session: Session, *, products: Sequence[Product]) -> int:
    """Write the copy fields of products that are stored (their other fields stay as they are);
    a None field is written as NULL. Ids that are not stored are ignored."""
    if not products:
        return 0
    now = utcnow()
    values = [
        {"id": p.product_id, "updated_at": now, **{c: _value(p, c) for c in _COPY_COLUMNS}}
        for p in products
    ]
    # ORM bulk UPDATE by primary key: one executemany statement.
    session.execute(update(ProductRow), values)
    return len(values)


def same_copy(a: Product, b: Product) -> bool:
    """Whether two products carry the same copy fields (a reload that would change nothing)."""
    return all(_value(a, c) == _value(b, c) for c in _COPY_COLUMNS)


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


def first_product_ids(session: Session, *, limit: int) -> list[int]:
    """The ``limit`` lowest product ids: a stable stand-in feed when nothing else is known."""
    return list(session.scalars(select(ProductRow.id).order_by(ProductRow.id).limit(limit)))
