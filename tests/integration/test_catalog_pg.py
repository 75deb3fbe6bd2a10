"""Loading the real catalog into the real PostgreSQL, and the CLI's failure modes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recgen.catalog.ingest import load_catalog, load_descriptions
from recgen.catalog.styles import read_styles
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.products import count_products, get_products
from tests.support.descriptions import DEO, SHIRT, STYLES, write_lines

pytestmark = pytest.mark.integration


def test_full_catalog_loads_twice_without_duplicates(empty_pg_url: str, data_dir: Path) -> None:
    # Its own database: other tests of the session add products to the shared one.
    upgrade(empty_pg_url)
    styles = data_dir / "myntra" / "styles.csv"
    factory = session_factory(make_engine(empty_pg_url))
    expected = len(read_styles(styles).products)
    for _ in range(2):
        report = load_catalog(
            factory, styles=styles, images_dir=data_dir / "myntra" / "images", batch_size=2000
        )
        with session_scope(factory) as session:
            assert count_products(session) == expected
    assert report.with_image > 8000
    assert len(report.rejected) > 0  # the real file has a few blank fields


def _recgen(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from recgen.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_cli_loads_into_postgres_from_env_url(migrated_pg_url: str, tmp_path: Path) -> None:
    styles = tmp_path / "styles.csv"
    styles.write_text(
        "id,gender,masterCategory,subCategory,articleType,baseColour,season,usage,"
        "productDisplayName,colorgroup\n"
        "1,Men,Apparel,Topwear,Shirts,Blue,Fall,Casual,Blue Shirt,Blue\n"
        "2,Men,Apparel,Topwear,Shirts,,Fall,Casual,No Colour Shirt,Blue\n"
    )
    result = _recgen(
        "catalog",
        "load",
        "--styles",
        str(styles),
        "--images",
        str(tmp_path),
        env={"RECGEN_DATABASE_URL": migrated_pg_url},
    )
    assert result.returncode == 0, result.stderr
    assert "1 products loaded" in result.stdout
    assert f"{styles}:3: blank baseColour" in result.stderr


def test_descriptions_load_twice_on_postgres(empty_pg_url: str, tmp_path: Path) -> None:
    # PostgreSQL's JSON, NUMERIC and upsert paths (the unit test runs them on SQLite).
    upgrade(empty_pg_url)
    factory = session_factory(make_engine(empty_pg_url))
    styles = tmp_path / "styles.csv"
    styles.write_text(STYLES)
    load_catalog(factory, styles=styles, images_dir=None, batch_size=10)
    path = write_lines(tmp_path, SHIRT, DEO)
    first = load_descriptions(factory, path=path, images_dir=None, batch_size=1)
    second = load_descriptions(factory, path=path, images_dir=None, batch_size=1)
    assert (first.created, first.enriched) == (1, 1)
    assert (second.created, second.enriched, second.unchanged) == (0, 0, 2)
    with session_scope(factory) as session:
        shirt = get_products(session, product_ids=[15970])[15970]
    assert shirt.discounted_price == 824.5 and shirt.facts == {
        "composition": "100% cotton", "collar": "spread collar", "closure": "full buttoned placket"
    }


def test_cli_loads_descriptions_and_reports_bad_lines(
    migrated_pg_url: str, tmp_path: Path
) -> None:
    path = write_lines(tmp_path, {**DEO, "id": 40011}, "{oops")
    result = _recgen(
        "catalog", "load", "--descriptions", str(path), "--images", str(tmp_path),
        env={"RECGEN_DATABASE_URL": migrated_pg_url},
    )
    assert result.returncode == 0, result.stderr
    assert f"{path}:2: not JSON" in result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("descriptions: 2 lines read, 1 products loaded")
    assert "1 bad lines skipped" in summary


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "cannot reach database"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/recgen_no_such_db", "cannot reach database"),
        ("sqlite-but-not:///x", "malformed database URL"),
        ("mysql://root@127.0.0.1/x", "database_url"),
    ],
)
def test_cli_bad_database_url_fails_in_one_line(url: str, message: str, tmp_path: Path) -> None:
    result = _recgen(
        "catalog", "load", "--styles", str(tmp_path / "s.csv"), env={"RECGEN_DATABASE_URL": url}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
