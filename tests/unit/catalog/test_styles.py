from __future__ import annotations

from pathlib import Path

import pytest

from recgen.catalog.ingest import load_catalog
from recgen.catalog.styles import read_styles
from recgen.core.errors import DataFileError
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.products import count_products, get_products

HEADER = (
    "id,gender,masterCategory,subCategory,articleType,baseColour,season,usage,"
    "productDisplayName,colorgroup\n"
)
GOOD = (
    "15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,Casual,Turtle Check Men Navy Blue Shirt,Blue\n"
)


def write_csv(tmp_path: Path, body: bytes | str) -> Path:
    path = tmp_path / "styles.csv"
    data = body.encode() if isinstance(body, str) else body
    path.write_bytes(HEADER.encode() + data)
    return path


def test_bad_rows_are_skipped_and_reported_by_line(tmp_path: Path) -> None:
    body = (
        GOOD
        + "abc,Men,Apparel,Topwear,Shirts,Blue,Fall,Casual,Some Shirt,Blue\n"  # line 3
        + "11,Men,Apparel,Topwear,Shirts,,Fall,Casual,Blank Colour Shirt,Blue\n"  # line 4
        + "12,Alien,Apparel,Topwear,Shirts,Blue,Fall,Casual,Odd Shirt,Blue\n"  # line 5
        + "13,Men,Apparel\n"  # line 6
        + "14,Women,Apparel,Topwear,Tops,White,Summer,Casual,Knit White Top,White\n"
    )
    result = read_styles(write_csv(tmp_path, body))
    assert [p.product_id for p in result.products] == [15970, 14]
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "id 'abc' is not a positive integer"),
        (4, "blank baseColour"),
        (5, "unknown gender 'Alien'"),
        (6, "too few fields"),
    ]


def test_wrong_encoding_rejects_only_that_row(tmp_path: Path) -> None:
    latin1 = "20,Men,Apparel,Topwear,Shirts,Blue,Fall,Casual,Caf\xe9 Shirt,Blue\n".encode("latin-1")
    result = read_styles(write_csv(tmp_path, GOOD.encode() + latin1))
    assert [p.product_id for p in result.products] == [15970]
    assert result.rejected[0].line == 3
    assert "UTF-8" in result.rejected[0].reason


def test_missing_column_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "styles.csv"
    path.write_text("id,gender\n1,Men\n")
    with pytest.raises(DataFileError, match="missing column"):
        read_styles(path)


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        read_styles(tmp_path / "absent.csv")


def test_image_path_only_when_photo_exists(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "15970.jpg").write_bytes(b"\xff\xd8")
    body = GOOD + "14,Women,Apparel,Topwear,Tops,White,Summer,Casual,Knit White Top,White\n"
    products = {p.product_id: p for p in read_styles(write_csv(tmp_path, body), images).products}
    assert products[15970].image_path == str(images / "15970.jpg")
    assert products[14].image_path is None


def test_load_twice_is_idempotent_and_updates(tmp_path: Path, sqlite_url: str) -> None:
    upgrade(sqlite_url)
    factory = session_factory(make_engine(sqlite_url))
    path = write_csv(tmp_path, GOOD)
    load_catalog(factory, styles=path, images_dir=None, batch_size=1)
    path.write_text(HEADER + GOOD.replace("Turtle Check", "Turtle Striped"))
    report = load_catalog(factory, styles=path, images_dir=None, batch_size=1)
    with session_scope(factory) as session:
        assert count_products(session) == 1
        assert get_products(session, product_ids=[15970])[15970].title.startswith("Turtle Striped")
    assert report.loaded == 1
