"""``recgen index rebuild``: item vectors, item/user/persona indexes and profiles from SQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from recgen.cli.common import open_store
from recgen.config import get_settings
from recgen.errors import IndexLoadError, RecgenError
from recgen.profiles import ProfileService
from recgen.store.db import session_scope
from recgen.store.repository import iter_products, user_ages
from recgen.types import Product
from recgen.vectors.index import VectorIndex
from recgen.vectors.items import ItemVectors, MiniLMEncoder, compute_item_vectors
from recgen.vectors.personas import Personas
from recgen.vectors.profile_model import PROFILE_VERSION, ItemFeatures, make_profile

app = typer.Typer(help="FAISS indexes and user profiles.", no_args_is_help=True)


def _item_vectors(directory: Path, products: list[Product], recompute: bool) -> ItemVectors:
    """Reuse stored item vectors when they cover exactly the catalog; else embed again."""
    if not recompute:
        try:
            stored = ItemVectors.load(directory)
            if set(stored.product_ids.tolist()) == {p.product_id for p in products}:
                return stored
            typer.echo("item vectors do not match the catalog; recomputing", err=True)
        except IndexLoadError as exc:
            typer.echo(f"item vectors unusable ({exc}); recomputing", err=True)
    vectors = compute_item_vectors(products, MiniLMEncoder())
    vectors.save(directory)
    return vectors


@app.command("rebuild")
def rebuild_cmd(
    personas: Annotated[int, typer.Option(help="How many personas (k-means clusters).")] = 32,
    recompute_items: Annotated[bool, typer.Option(help="Re-embed every product.")] = False,
) -> None:
    """Rebuild everything from SQL; files are replaced atomically, with manifests."""
    settings = get_settings()
    index_dir = settings.index_dir
    started = time.perf_counter()
    factory = open_store()
    with session_scope(factory) as session:
        products = list(iter_products(session))
    if not products:
        raise RecgenError("the catalog is empty: run `recgen catalog load` first")
    vectors = _item_vectors(index_dir / "items", products, recompute_items)
    items = ItemFeatures(products, vectors)
    item_index = VectorIndex.build(vectors.product_ids, vectors.text,
                                   model_version=vectors.model_version)
    item_index.save(index_dir, "items")
    service = ProfileService(items, products, item_index=item_index)
    with session_scope(factory) as session:
        batch = service.rebuild_all(session)
    users = len(batch.user_ids)
    if users:
        VectorIndex.build(batch.user_ids, batch.vectors,
                          model_version=PROFILE_VERSION).save(index_dir, "users")
        with session_scope(factory) as session:
            ages = user_ages(session)
        profiles = [make_profile(int(u), batch.state(i), items, age=ages.get(int(u)))
                    for i, u in enumerate(batch.user_ids)]
        fitted = Personas.fit(profiles, k=personas, model_version=PROFILE_VERSION)
        fitted.save(index_dir)
        with session_scope(factory) as session:
            service.assign_personas(session, fitted)
    typer.echo(f"index rebuild: {len(products)} items ({vectors.model_version}), {users} user "
               f"profiles, {min(personas, users)} personas in {index_dir} "
               f"({time.perf_counter() - started:.1f} s)")

