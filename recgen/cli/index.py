"""``recgen index rebuild``: item vectors, item/user/persona indexes and profiles from SQL."""

from __future__ import annotations

from typing import Annotated

import typer

from recgen.cli.common import open_store
from recgen.core.config import get_settings

app = typer.Typer(help="FAISS indexes and user profiles.", no_args_is_help=True)


@app.command("rebuild")
def rebuild_cmd(
    personas: Annotated[int, typer.Option(help="How many personas (k-means clusters).")] = 32,
    recompute_items: Annotated[bool, typer.Option(help="Re-embed every product.")] = False,
) -> None:
    """Rebuild everything from SQL; files are replaced atomically, with manifests."""
    from recgen.profiles.rebuild import photo_embedder, rebuild_indexes
    from recgen.runtime.bootstrap import image_classifier_path

    settings = get_settings()
    index_dir = settings.index_dir
    report = rebuild_indexes(
        open_store(),
        index_dir=index_dir,
        personas=personas,
        image_embedder=photo_embedder(image_classifier_path(settings)),
        recompute_items=recompute_items,
        on_stage=lambda name: typer.echo(f"  {name} ...", err=True),
    )
    typer.echo(
        f"index rebuild: {report.items} items ({report.item_model_version}), {report.users} "
        f"user profiles, {report.personas} personas in {index_dir} ({report.seconds:.1f} s)"
    )
