"""Reading descriptions.jsonl: one product a line, with its copy (raw HTML) and attributes.

Parsing only, like :mod:`recgen.catalog.styles` (whose :class:`RejectedRow` it reports with):
a line that is not a JSON object, has no usable id, has a field of the wrong type or an
over-long one is skipped and reported by line number; "NA" and blank values are missing.
Cleaning the copy is :mod:`recgen.catalog.copy`'s job, loading it :mod:`recgen.catalog.ingest`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recgen.catalog.styles import MAX_FIELD_LENGTH, ParsedFile, RejectedRow
from recgen.core.errors import DataFileError
from recgen.core.types import GENDERS

# The longest real description is about 55,000 characters (a pasted size table).
MAX_COPY_LENGTH = 100_000
MAX_ATTRIBUTES = 200
_MISSING = frozenset({"", "na", "n/a", "null", "none"})
# File field -> record field, for the plain text fields.
_TEXT_FIELDS = {
    "productDisplayName": "title",
    "brandName": "brand",
    "gender": "gender",
    "masterCategory": "master_category",
    "subCategory": "sub_category",
    "articleType": "article_type",
    "baseColour": "base_colour",
    "colour1": "colour1",
    "colour2": "colour2",
    "season": "season",
    "usage": "usage",
}
# Fields a product needs when the catalog does not already have it.
REQUIRED_FOR_NEW = ("gender", "master_category", "sub_category", "article_type", "base_colour",
                    "title")
# articleAttributes that describe the shop's bookkeeping, not the product.
_INTERNAL_ATTRIBUTES = frozenset(
    {"Body or Garment Size", "Brick", "Family", "Class", "Segment", "Business Unit",
     "taxMaterial", "Processing Time", "Units Per Bundle", "Total Shelf Life in Months",
     "Minimum Shelf Life in Months", "Minimum Usable Period in Months", "Colour Hex Code"}
)


class BadLine(ValueError):
    """Why one line was skipped (the message is the report's reason)."""


@dataclass(frozen=True, slots=True)
class DescriptionRecord:
    """One valid line. Text fields are None where the file says "NA" or nothing."""

    product_id: int
    line: int
    title: str | None = None
    brand: str | None = None
    gender: str | None = None
    master_category: str | None = None
    sub_category: str | None = None
    article_type: str | None = None
    base_colour: str | None = None
    colour1: str | None = None
    colour2: str | None = None
    season: str | None = None
    usage: str | None = None
    price: float | None = None
    discounted_price: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    descriptors: dict[str, str] = field(default_factory=dict)

    def catalog_attributes(self) -> dict[str, str]:
        """The product's attributes under the catalog's keys ("baseColour", "Pattern", ...)."""
        named = {
            "gender": self.gender,
            "subCategory": self.sub_category,
            "articleType": self.article_type,
            "baseColour": self.base_colour,
            "colour1": self.colour1,
            "colour2": self.colour2,
        }
        return {**self.attributes, **{k: v for k, v in named.items() if v is not None}}

    def missing_for_new(self) -> str | None:
        """The first field a new product would need that this line lacks, if any."""
        return next((name for name in REQUIRED_FOR_NEW if getattr(self, name) is None), None)


@dataclass(slots=True)
class DescriptionsFile(ParsedFile):
    """The valid lines of a descriptions file and a report of every line that was skipped."""

    records: list[DescriptionRecord] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return len(self.records)


def _text(value: Any, name: str, limit: int = MAX_FIELD_LENGTH) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadLine(f"{name} is a {type(value).__name__}, not a string")
    if len(value) > limit:
        raise BadLine(f"{name} longer than {limit} characters")
    cleaned = " ".join(value.split())
    return None if cleaned.lower() in _MISSING else cleaned


def _price(value: Any, name: str) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _MISSING):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadLine(f"{name} is a {type(value).__name__}, not a number")
    if not 0 <= value < 10**8:
        raise BadLine(f"{name} {value} is out of range")
    return round(float(value), 2)  # the store keeps cents


def _product_id(value: Any) -> int:
    if value is None:
        raise BadLine("missing id")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise BadLine(f"id {value!r} is not a positive integer")
    return value


def _mapping(value: Any, name: str, limit: int) -> dict[str, str]:
    """A JSON object of strings, less its missing values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadLine(f"{name} is a {type(value).__name__}, not an object")
    if len(value) > MAX_ATTRIBUTES:
        raise BadLine(f"{name} has more than {MAX_ATTRIBUTES} entries")
    out: dict[str, str] = {}
    for key, item in value.items():
        key_text = _text(key, f"{name} key")
        text = _text(item, f"{name}.{key}", limit)
        if key_text is not None and text is not None:
            out[key_text] = text
    return out


def parse_line(text: str, line: int) -> DescriptionRecord:
    """One line as a record; raises :class:`BadLine` with the reason it cannot be used."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise BadLine(f"a JSON {type(data).__name__}, not an object")
    fields = {target: _text(data.get(source), source) for source, target in _TEXT_FIELDS.items()}
    if fields["gender"] is not None and fields["gender"] not in GENDERS:
        raise BadLine(f"unknown gender {fields['gender']!r}")
    attributes = _mapping(data.get("articleAttributes"), "articleAttributes", MAX_FIELD_LENGTH)
    return DescriptionRecord(
        product_id=_product_id(data.get("id")),
        line=line,
        price=_price(data.get("price"), "price"),
        discounted_price=_price(data.get("discountedPrice"), "discountedPrice"),
        attributes={k: v for k, v in attributes.items() if k not in _INTERNAL_ATTRIBUTES},
        descriptors=_mapping(data.get("productDescriptors"), "productDescriptors",
                             MAX_COPY_LENGTH),
        **fields,
    )


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as handle:
            yield from enumerate(handle, start=1)
    except FileNotFoundError as exc:
        raise DataFileError(f"descriptions file not found: {path}") from exc
    except OSError as exc:
        raise DataFileError(f"cannot read descriptions file {path}: {exc.strerror}") from exc


def _records(path: Path) -> Iterator[DescriptionRecord | RejectedRow]:
    for number, raw in _raw_lines(path):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield RejectedRow(line=number, reason="not valid UTF-8")
            continue
        if not text.strip():
            continue  # a blank line (e.g. after the last product) is no product
        try:
            yield parse_line(text, number)
        except BadLine as exc:
            yield RejectedRow(line=number, reason=str(exc))


def read_descriptions(path: Path) -> DescriptionsFile:
    """Parse a descriptions.jsonl line by line; skip (and report by line number) bad lines.
    A product id seen twice keeps its last line and counts as a duplicate."""
    result = DescriptionsFile(path=path)
    by_id: dict[int, DescriptionRecord] = {}
    for record in _records(path):
        if isinstance(record, RejectedRow):
            result.rejected.append(record)
            continue
        if record.product_id in by_id:
            result.duplicates += 1
        by_id[record.product_id] = record
    result.records = list(by_id.values())
    return result
