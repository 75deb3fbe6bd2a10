"""``recgen catalog``: load the product catalog into the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from tqdm import tqdm

from recgen.cli.common import open_store
from recgen.core.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from recgen.catalog.styles import RejectedRow

app = typer.Typer(help="Product catalog.", no_args_is_help=True)


def _report_skipped(path: Path, rows: Sequence[RejectedRow], show: int) -> None:
    for reject in rows[:show]:
        typer.echo(f"  skipped {path}:{reject.line}: {reject.reason}", err=True)
    if len(rows) > show:
        typer.echo(f"  ... and {len(rows) - show} more", err=True)


@app.command("load")
def load_cmd(
    styles: Annotated[
        Path | None,
        typer.Option(
            help="styles.csv (default: DATA_DIR/myntra/styles.csv; loaded unless only "
            "--descriptions is given)"
        ),
    ] = None,
    descriptions: Annotated[
        Path | None,
        typer.Option(help="descriptions.jsonl: the shop's copy and attributes (after styles)"),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(help="Directory of ID.jpg photos (default: DATA_DIR/myntra/images)"),
    ] = None,
    show_rejected: Annotated[int, typer.Option(help="How many skipped rows to list.")] = 20,
) -> None:
    """Upsert the catalog in batches (idempotent); skipped rows are reported by line number."""
    settings = get_settings()
    images = images or settings.data_dir / "myntra" / "images"
    images_dir = images if images.exists() else None
    factory = open_store()
    if styles is not None or descriptions is None:
        _load_styles(factory, styles or settings.data_dir / "myntra" / "styles.csv", images_dir,
                     show_rejected)
    if descriptions is not None:
        _load_descriptions(factory, descriptions, images_dir, show_rejected)


def _load_styles(
    factory: sessionmaker[Session], styles: Path, images_dir: Path | None, show: int
) -> None:
    from recgen.catalog.ingest import load_catalog

    with tqdm(desc="loading catalog", unit="rows") as bar:
        report = load_catalog(
            factory,
            styles=styles,
            images_dir=images_dir,
            batch_size=get_settings().catalog_batch_size,
            on_batch=bar.update,
        )
    _report_skipped(styles, report.rejected, show)
    typer.echo(
        f"catalog: {report.rows_read} rows read, {report.loaded} products loaded "
        f"({report.with_image} with a photo), {len(report.rejected)} skipped, "
        f"{report.duplicates} duplicate ids"
    )


def _load_descriptions(
    factory: sessionmaker[Session], path: Path, images_dir: Path | None, show: int
) -> None:
    from recgen.catalog.ingest import load_descriptions

    with tqdm(desc="loading descriptions", unit="lines") as bar:
        report = load_descriptions(
            factory,
            path=path,
            images_dir=images_dir,
            batch_size=get_settings().catalog_batch_size,
            on_batch=bar.update,
        )
    _report_skipped(path, sorted(report.rejected + report.not_created, key=lambda r: r.line),
                    show)
    typer.echo(
        f"descriptions: {report.rows_read} lines read, {report.loaded} products loaded "
        f"({report.created} new, {report.enriched} updated, {report.unchanged} unchanged), "
        f"{len(report.rejected)} bad lines skipped, {len(report.not_created)} not creatable, "
        f"{report.duplicates} duplicate ids; {report.with_description} with a description, "
        f"{report.facts} facts, {report.inconsistent} with copy that contradicts its attributes"
    )
