"""Rebuilding item vectors, the item/user/persona indexes and user profiles from SQL.

Shared by ``recgen index rebuild`` and the demo. Files are replaced atomically, each with a
manifest, so a worker starting mid-rebuild sees either the old or the new set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from recgen.core.errors import IndexLoadError, RecgenError
from recgen.core.types import Product
from recgen.models.image import ImageClassifier
from recgen.profiles.model import PROFILE_VERSION, ItemFeatures, make_profile
from recgen.profiles.personas import Personas
from recgen.profiles.service import ProfileService
from recgen.retrieval.candidates import Retriever
from recgen.retrieval.index import VectorIndex
from recgen.retrieval.item_vectors import (
    ImageEmbedder,
    ItemVectors,
    MiniLMEncoder,
    compute_item_vectors,
)
from recgen.store.db import session_scope
from recgen.store.repos.products import iter_products
from recgen.store.repos.users import user_ages

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RebuildSummary:
    items: int
    item_model_version: str
    users: int
    personas: int
    seconds: float


def photo_embedder(classifier_path: Path) -> tuple[ImageEmbedder, str]:
    """Item image vectors: the gate classifier's penultimate features (and its version)."""
    classifier = ImageClassifier.from_pretrained(classifier_path)
    return classifier.embed_photos, classifier.version


def item_vectors_for(
    directory: Path,
    products: list[Product],
    *,
    image_embedder: tuple[ImageEmbedder, str] | None = None,
    recompute: bool = False,
) -> ItemVectors:
    """Reuse stored item vectors when they cover exactly the catalog with the same image
    model; else embed again."""
    if not any(p.image_path for p in products):
        image_embedder = None  # nothing to embed: a catalog without photos has text vectors only
    image_version = image_embedder[1] if image_embedder is not None else None
    if not recompute and directory.exists():
        try:
            stored = ItemVectors.load(directory)
            if (
                set(stored.product_ids.tolist()) == {p.product_id for p in products}
                and stored.image_version == image_version
            ):
                return stored
            logger.warning("item vectors do not match the catalog or models; recomputing")
        except IndexLoadError as exc:
            logger.warning("item vectors unusable (%s); recomputing", exc)
    vectors = compute_item_vectors(
        products,
        MiniLMEncoder(),
        image_embedder=image_embedder[0] if image_embedder is not None else None,
        image_version=image_version,
    )
    vectors.save(directory)
    return vectors


def rebuild_indexes(
    factory: sessionmaker[Session],
    *,
    index_dir: Path,
    personas: int,
    image_embedder: tuple[ImageEmbedder, str] | None = None,
    recompute_items: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> RebuildSummary:
    """Item vectors and index, every user's profile, the user index and the personas.

    With an ``image_embedder`` (see :func:`photo_embedder`) products with photos also get an
    image vector, from which profiles derive the image engine's taste vector.
    """
    started = time.perf_counter()
    stage = on_stage or (lambda _name: None)
    with session_scope(factory) as session:
        products = list(iter_products(session))
    if not products:
        raise RecgenError("the catalog is empty: run `recgen catalog load` first")
    stage("item vectors")
    vectors = item_vectors_for(
        index_dir / "items", products, image_embedder=image_embedder, recompute=recompute_items
    )
    items = ItemFeatures(products, vectors)
    item_index = VectorIndex.build(
        vectors.product_ids, vectors.text, model_version=vectors.model_version
    )
    item_index.save(index_dir, "items")
    service = ProfileService(items, products, retriever=Retriever(item_index))
    stage("profiles")
    with session_scope(factory) as session:
        batch = service.rebuild_all(session)
    users = len(batch.user_ids)
    fitted_count = 0
    if users:
        VectorIndex.build(batch.user_ids, batch.vectors, model_version=PROFILE_VERSION).save(
            index_dir, "users"
        )
        with session_scope(factory) as session:
            ages = user_ages(session)
        profiles = [
            make_profile(int(u), batch.state(i), items, age=ages.get(int(u)))
            for i, u in enumerate(batch.user_ids)
        ]
        stage("personas")
        fitted = Personas.fit(profiles, k=personas, model_version=PROFILE_VERSION)
        fitted.save(index_dir)
        fitted_count = len(fitted.personas)
        with session_scope(factory) as session:
            service.assign_personas(session, fitted)
    return RebuildSummary(
        items=len(products),
        item_model_version=vectors.model_version,
        users=users,
        personas=fitted_count,
        seconds=time.perf_counter() - started,
    )
