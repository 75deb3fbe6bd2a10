"""Reading the Myntra-format catalog (styles.csv + images/ID.jpg).

Parsing only, with no database import, so that the models' training and evaluation code can
read a catalog file; ``recgen.catalog.ingest`` loads it into the store.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recgen.core.errors import DataFileError
from recgen.core.types import GENDERS, Product

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
class ParsedFile:
    """What reading a catalog file skipped: every bad row by line, and repeated ids."""

    path: Path
    rejected: list[RejectedRow] = field(default_factory=list)
    duplicates: int = 0

    @property
    def rows_read(self) -> int:
        return self.valid + len(self.rejected) + self.duplicates

    @property
    def valid(self) -> int:
        raise NotImplementedError


@dataclass(slots=True)
class CatalogFile(ParsedFile):
    """The valid products of a styles file and a report of every row that was skipped."""

    products: list[Product] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return len(self.products)


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
