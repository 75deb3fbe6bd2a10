"""``recgen catalog``: load the product catalog into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from recgen.catalog.ingest import load_catalog
from recgen.cli.common import open_store
from recgen.core.config import get_settings

app = typer.Typer(help="Product catalog.", no_args_is_help=True)


@app.command("load")
def load_cmd(
    styles: Annotated[
        Path | None, typer.Option(help="styles.csv (default: DATA_DIR/myntra/styles.csv)")
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(help="Directory of ID.jpg photos (default: DATA_DIR/myntra/images)"),
    ] = None,
    show_rejected: Annotated[int, typer.Option(help="How many skipped rows to list.")] = 20,
) -> None:
    """Upsert the catalog in batches (idempotent); skipped rows are reported by line number."""
    settings = get_settings()
    styles = styles or settings.data_dir / "myntra" / "styles.csv"
    images = images or settings.data_dir / "myntra" / "images"
    factory = open_store()
    with tqdm(desc="loading catalog", unit="rows") as bar:
        report = load_catalog(
            factory,
            styles=styles,
            images_dir=images if images.exists() else None,
            batch_size=settings.catalog_batch_size,
            on_batch=bar.update,
        )
    for reject in report.rejected[:show_rejected]:
        typer.echo(f"  skipped {styles}:{reject.line}: {reject.reason}", err=True)
    if len(report.rejected) > show_rejected:
        typer.echo(f"  ... and {len(report.rejected) - show_rejected} more", err=True)
    typer.echo(
        f"catalog: {report.rows_read} rows read, {report.loaded} products loaded "
        f"({report.with_image} with a photo), {len(report.rejected)} skipped, "
        f"{report.duplicates} duplicate ids"
    )
