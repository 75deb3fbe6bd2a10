"""``recgen demo``: the main job on the embedded defaults (SQLite, in-process everything)."""

from __future__ import annotations

import time

import typer
from tqdm import tqdm

from recgen.catalog import load_catalog
from recgen.cli.common import open_store
from recgen.config import get_settings
from recgen.errors import DataFileError
from recgen.store.migrate import upgrade

DATA_HELP = (
    "The demo reads the Myntra catalog (styles.csv + images/) and the women's clothing reviews "
    "from the data directory. Set RECGEN_DATA_DIR to a folder holding myntra/styles.csv, "
    "myntra/images/ and reviews/womens_clothing_reviews.csv ('Fashion Product Images (Small)' "
    "and 'Women's E-Commerce Clothing Reviews', both on Kaggle; see README 'Data')."
)


def demo() -> None:
    """Run the end-to-end demo on the embedded defaults and print a summary."""
    settings = get_settings()
    styles = settings.data_dir / "myntra" / "styles.csv"
    if not styles.is_file():
        raise DataFileError(f"no catalog at {styles}. {DATA_HELP}")
    started = time.perf_counter()
    upgrade(settings.database_url)
    factory = open_store()
    with tqdm(desc="catalog", unit="rows") as bar:
        report = load_catalog(
            factory,
            styles=styles,
            images_dir=settings.data_dir / "myntra" / "images",
            batch_size=settings.catalog_batch_size,
            on_batch=bar.update,
        )
    typer.echo(
        f"demo: {report.loaded} products loaded ({report.with_image} with photos, "
        f"{len(report.rejected)} rows skipped) in {time.perf_counter() - started:.1f}s "
        f"into {settings.database_url}"
    )
