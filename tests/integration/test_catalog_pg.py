"""Loading the real catalog into the real PostgreSQL, and the CLI's failure modes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recgen.catalog.ingest import load_catalog
from recgen.catalog.styles import read_styles
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.products import count_products

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
