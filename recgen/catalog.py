"""Reading the Myntra-format catalog (styles.csv + images/ID.jpg) and loading it into the store.

Parsing is separate from loading so that the models' training and evaluation code can read a
catalog file without a database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from recgen.errors import DataFileError
from recgen.store.db import session_scope
from recgen.store.repository import upsert_products
from recgen.types import GENDERS, Product

REQUIRED_COLUMNS = (
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "usage",
    "productDisplayName",
    "colorgroup",
)
MAX_FIELD_LENGTH = 256


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(slots=True)
class CatalogFile:
    """The valid products of a styles file and a report of every row that was skipped."""

    path: Path
    products: list[Product] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    duplicates: int = 0

    @property
    def rows_read(self) -> int:
        return len(self.products) + len(self.rejected) + self.duplicates


def _decoded_lines(path: Path) -> Iterator[str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataFileError(f"styles file not found: {path}") from exc
    except OSError as exc:
        raise DataFileError(f"cannot read styles file {path}: {exc.strerror}") from exc
    # surrogateescape keeps undecodable bytes visible per row instead of failing the file.
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    return iter(io.StringIO(text, newline=""))


def _row_problem(row: dict[str, str]) -> str | None:
    for column in REQUIRED_COLUMNS:
        value = row.get(column)
        if value is None:
            return "too few fields"
        if not value.strip():
            return f"blank {column}"
        if len(value) > MAX_FIELD_LENGTH:
            return f"{column} longer than {MAX_FIELD_LENGTH} characters"
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            return f"{column} is not valid UTF-8"
    if not row["id"].strip().isdigit():
        return f"id {row['id']!r} is not a positive integer"
    if row["gender"].strip() not in GENDERS:
        return f"unknown gender {row['gender']!r}"
    return None


def read_styles(path: Path, images_dir: Path | None = None) -> CatalogFile:
    """Parse a styles.csv; skip (and report by line number) rows that are malformed."""
    lines = _decoded_lines(path)
    reader = csv.DictReader(lines, restkey="_extra")
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {', '.join(missing)} in header")
    result = CatalogFile(path=path)
    by_id: dict[int, Product] = {}
    for row in reader:
        problem = "too many fields" if row.get("_extra") else _row_problem(row)
        if problem is not None:
            result.rejected.append(RejectedRow(line=reader.line_num, reason=problem))
            continue
        product_id = int(row["id"])
        image = images_dir / f"{product_id}.jpg" if images_dir is not None else None
        if product_id in by_id:
            result.duplicates += 1
        by_id[product_id] = Product(
            product_id=product_id,
            gender=row["gender"].strip(),
            master_category=row["masterCategory"].strip(),
            sub_category=row["subCategory"].strip(),
            article_type=row["articleType"].strip(),
            base_colour=row["baseColour"].strip(),
            colour_group=row["colorgroup"].strip(),
            season=row["season"].strip(),
            usage=row["usage"].strip(),
            title=" ".join(row["productDisplayName"].split()),
            image_path=str(image) if image is not None and image.is_file() else None,
        )
    result.products = list(by_id.values())
    return result


@dataclass(frozen=True, slots=True)
class LoadReport:
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
) -> LoadReport:
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
    return LoadReport(
        rows_read=catalog.rows_read,
        loaded=loaded,
        with_image=sum(p.image_path is not None for p in catalog.products),
        rejected=catalog.rejected,
        duplicates=catalog.duplicates,
    )
