"""descriptions.jsonl: bad lines reported by number, and loading that enriches or creates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from recgen.catalog.colours import COLOUR_GROUP_OF
from recgen.catalog.descriptions import read_descriptions
from recgen.catalog.ingest import load_catalog, load_descriptions
from recgen.core.errors import DataFileError
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.products import count_products, get_products
from tests.support.descriptions import DEO, SHIRT, STYLES, write_lines


def test_bad_lines_are_skipped_and_reported_by_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        SHIRT,
        "{not json",  # line 2
        "[1, 2]",  # line 3
        {**SHIRT, "id": None},  # line 4
        {**SHIRT, "id": "abc"},  # line 5
        {**SHIRT, "id": 7, "price": "cheap"},  # line 6
        {**SHIRT, "id": 8, "brandName": 42},  # line 7
        {**SHIRT, "id": 9, "productDisplayName": "x" * 300},  # line 8
        {**SHIRT, "id": 10, "gender": "Alien"},  # line 9
        {**SHIRT, "id": 11, "articleAttributes": ["Fit"]},  # line 10
        DEO,
    )
    result = read_descriptions(path)
    assert [r.product_id for r in result.records] == [15970, 40001]
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "not JSON (Expecting property name enclosed in double quotes at column 2)"),
        (3, "a JSON list, not an object"),
        (4, "missing id"),
        (5, "id 'abc' is not a positive integer"),
        (6, "price is a str, not a number"),
        (7, "brandName is a int, not a string"),
        (8, "productDisplayName longer than 256 characters"),
        (9, "unknown gender 'Alien'"),
        (10, "articleAttributes is a list, not an object"),
    ]
    assert result.rows_read == 11


def test_missing_values_and_internal_attributes_are_dropped(tmp_path: Path) -> None:
    raw = b"\xff\xfe not utf-8\n"
    path = write_lines(tmp_path, SHIRT)
    path.write_bytes(path.read_bytes() + raw + json.dumps(SHIRT).encode() + b"\n")
    result = read_descriptions(path)
    (record,) = result.records
    assert record.colour1 is None and record.discounted_price == 824.5
    assert record.attributes == {"Fit": "Slim Fit", "Pattern": "Checked",
                                 "Sleeve Length": "Long Sleeves", "Collar": "Spread Collar"}
    assert [(r.line, r.reason) for r in result.rejected] == [(2, "not valid UTF-8")]
    assert result.duplicates == 1  # the same id again: the last line wins


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_descriptions(tmp_path / "absent.jsonl")


@pytest.fixture()
def factory(sqlite_url: str) -> sessionmaker[Session]:
    upgrade(sqlite_url)
    return session_factory(make_engine(sqlite_url))


def test_load_enriches_styles_products_and_creates_the_others(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    styles = tmp_path / "styles.csv"
    styles.write_text(STYLES)
    load_catalog(factory, styles=styles, images_dir=None, batch_size=10)
    no_colour = {**DEO, "id": 40002, "baseColour": "NA"}
    path = write_lines(tmp_path, SHIRT, DEO, no_colour)
    first = load_descriptions(factory, path=path, images_dir=None, batch_size=2)
    assert (first.created, first.enriched, first.unchanged) == (1, 1, 0)
    assert [(r.line, r.reason) for r in first.not_created] == [
        (3, "product 40002 is not in the catalog and has no base_colour")
    ]
    with session_scope(factory) as session:
        products = get_products(session, product_ids=[15970, 40001])
    shirt, deo = products[15970], products[40001]
    assert shirt.title == "Turtle Check Men Navy Blue Shirt" and shirt.brand == "Turtle"
    assert (shirt.price, shirt.discounted_price) == (1099.0, 824.5)
    assert shirt.description == (
        "Navy blue checked shirt made of 100% cotton, has a spread collar and a full buttoned "
        "placket.\n\nTeam it with chinos for a smart look."
    )
    assert shirt.facts == {"composition": "100% cotton", "collar": "spread collar",
                           "closure": "full buttoned placket"}
    assert shirt.attributes is not None and shirt.attributes["Fit"] == "Slim Fit"
    assert shirt.copy_consistent is True
    assert (deo.master_category, deo.colour_group) == ("Personal Care", "Blue")

    again = load_descriptions(factory, path=path, images_dir=None, batch_size=2)
    assert (again.created, again.enriched, again.unchanged) == (0, 0, 2)
    # Reloading styles.csv (which has no copy) keeps the copy.
    load_catalog(factory, styles=styles, images_dir=None, batch_size=10)
    with session_scope(factory) as session:
        assert count_products(session) == 2
        assert get_products(session, product_ids=[15970])[15970] == shirt


def test_copy_that_contradicts_the_attributes_is_stored_as_inconsistent(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    red_polo = {
        **SHIRT, "id": 5, "articleType": "Tshirts", "baseColour": "Red",
        "productDescriptors": {"description": "<p>This funky orange t-shirt is a hit.</p>"},
    }
    orange = {**red_polo, "id": 6, "baseColour": "Orange"}  # the vocabulary's "orange"
    report = load_descriptions(
        factory, path=write_lines(tmp_path, red_polo, orange), images_dir=None, batch_size=5
    )
    assert report.inconsistent == 1
    with session_scope(factory) as session:
        products = get_products(session, product_ids=[5, 6])
    assert (products[5].copy_consistent, products[6].copy_consistent) == (False, True)


def test_colour_families_match_styles(data_dir: Path) -> None:
    # The table new products get their colour family from is the one styles.csv uses.
    import csv

    with (data_dir / "myntra" / "styles.csv").open(newline="") as handle:
        seen = {row["baseColour"]: row["colorgroup"] for row in csv.DictReader(handle)}
    assert {c: g for c, g in seen.items() if c} == COLOUR_GROUP_OF


@pytest.mark.slow
def test_real_file_parses_and_cleans(data_dir: Path) -> None:
    from recgen.catalog.copy import clean_copy

    path = data_dir / "myntra" / "descriptions.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    result = read_descriptions(path)
    assert len(result.records) > 39_000
    # Every 40th product: the body is plain text without markup or boilerplate.
    bodies = [clean_copy(r.descriptors).body for r in result.records[::40]]
    assert sum(bool(b) for b in bodies) / len(bodies) > 0.95
    assert not any("<" in b or "&nbsp" in b or "Wash care" in b for b in bodies)
