"""A descriptions.jsonl line as the product the store keeps: cleaned copy, facts, consistency.

Pure (no store): the text engine's corpus code can build the same products the loader stores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from recgen.catalog.colours import colour_group_of
from recgen.catalog.consistency import CopyChecker
from recgen.catalog.copy import CleanCopy, clean_copy
from recgen.catalog.descriptions import DescriptionRecord
from recgen.catalog.facts import extract_facts
from recgen.core.types import Product


@dataclass(frozen=True, slots=True)
class EnrichedCopy:
    """What one line adds to a product, and the clean copy it came from."""

    copy: CleanCopy
    facts: dict[str, str]
    conflicts: list[str]


def enrich(record: DescriptionRecord, checker: CopyChecker) -> EnrichedCopy:
    copy = clean_copy(record.descriptors)
    lead = copy.sections.get("composition") or copy.sections.get("product details") or ""
    conflicts = checker.conflicts(copy.body, record.catalog_attributes(), lead=lead)
    return EnrichedCopy(copy=copy, facts=extract_facts(copy), conflicts=conflicts)


def with_copy(product: Product, record: DescriptionRecord, enriched: EnrichedCopy) -> Product:
    """``product`` carrying the line's copy fields."""
    return replace(
        product,
        brand=record.brand,
        price=record.price,
        discounted_price=record.discounted_price,
        attributes=record.attributes,
        description=enriched.copy.body or None,
        facts=enriched.facts,
        # No copy to check is no contradiction, but nothing to train on either: None.
        copy_consistent=not enriched.conflicts if enriched.copy.body else None,
    )


def new_product(record: DescriptionRecord, images_dir: Path | None) -> Product | None:
    """The product a line describes, from the line's own fields; None when it lacks one that
    a product needs (see ``DescriptionRecord.missing_for_new``)."""
    gender, master, sub = record.gender, record.master_category, record.sub_category
    article, colour, title = record.article_type, record.base_colour, record.title
    if gender is None or master is None or sub is None:
        return None
    if article is None or colour is None or title is None:
        return None
    image = images_dir / f"{record.product_id}.jpg" if images_dir is not None else None
    return Product(
        product_id=record.product_id,
        gender=gender,
        master_category=master,
        sub_category=sub,
        article_type=article,
        base_colour=colour,
        colour_group=colour_group_of(colour),
        season=record.season,
        usage=record.usage,
        title=title,
        image_path=str(image) if image is not None and image.is_file() else None,
    )
