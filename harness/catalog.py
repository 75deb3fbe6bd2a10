"""Tiny deterministic catalogs and random item vectors: for fast tests of profiles and
retrieval, the reliability world, and the benchmarks that need a catalog but no trained model.
"""

from __future__ import annotations

import itertools

import numpy as np

from recgen.core.types import Product
from recgen.retrieval.item_vectors import ItemVectors

ARTICLES = ("Tshirts", "Shirts", "Jeans", "Watches", "Kurtas")
COLOURS = ("Black", "Blue", "Red", "White")
USAGE = ("Casual", "Sports", "Formal", "Ethnic")


def make_products(count: int = 120) -> list[Product]:
    """Products cycling through every (article, colour, usage, gender) combination."""
    combos = itertools.cycle(itertools.product(ARTICLES, COLOURS, USAGE, ("Men", "Women")))
    return [
        Product(
            product_id=pid, gender=gender, master_category="Apparel", sub_category="Topwear",
            article_type=article, base_colour=colour, colour_group=colour, season="Summer",
            usage=usage, title=f"{gender} {colour} {usage} {article} {pid}",
        )
        for pid, (article, colour, usage, gender) in zip(range(1000, 1000 + count), combos,
                                                         strict=False)
    ]


def random_item_vectors(products: list[Product], *, text_dim: int = 16, image_dim: int = 8,
                        seed: int = 0) -> ItemVectors:
    """Random text vectors for all products, image vectors for every third one."""
    rng = np.random.default_rng(seed)
    with_image = np.array([p.product_id for p in products[::3]], dtype=np.int64)
    return ItemVectors(
        product_ids=np.array([p.product_id for p in products], dtype=np.int64),
        text=rng.normal(size=(len(products), text_dim)).astype(np.float32),
        text_version="test-text",
        image_ids=with_image,
        image=rng.normal(size=(len(with_image), image_dim)).astype(np.float32),
        image_version="test-image",
    )
