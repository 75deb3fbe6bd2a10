"""Small deterministic catalogs and random item vectors for the vectors/profiles tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from recgen.types import Product
from recgen.vectors.items import ItemVectors
from recgen.vectors.profile_model import ItemFeatures

ARTICLES = ("Tshirts", "Shirts", "Jeans", "Watches", "Kurtas")
COLOURS = ("Black", "Blue", "Red", "White")
USAGE = ("Casual", "Sports", "Formal", "Ethnic")


def make_products(count: int = 120) -> list[Product]:
    combos = itertools.cycle(itertools.product(ARTICLES, COLOURS, USAGE, ("Men", "Women")))
    products = []
    for pid, (article, colour, usage, gender) in zip(range(1000, 1000 + count), combos,
                                                     strict=False):
        products.append(Product(
            product_id=pid, gender=gender, master_category="Apparel", sub_category="Topwear",
            article_type=article, base_colour=colour, colour_group=colour, season="Summer",
            usage=usage, title=f"{gender} {colour} {usage} {article} {pid}",
        ))
    return products


@pytest.fixture()
def product_maker() -> Callable[[int], list[Product]]:
    return make_products


@pytest.fixture()
def products() -> list[Product]:
    return make_products()


@pytest.fixture()
def item_vectors(products: list[Product]) -> ItemVectors:
    rng = np.random.default_rng(0)
    with_image = np.array([p.product_id for p in products[::3]], dtype=np.int64)
    return ItemVectors(
        product_ids=np.array([p.product_id for p in products], dtype=np.int64),
        text=rng.normal(size=(len(products), 16)).astype(np.float32),
        text_version="test-text",
        image_ids=with_image,
        image=rng.normal(size=(len(with_image), 8)).astype(np.float32),
        image_version="test-image",
    )


@pytest.fixture()
def items(products: list[Product], item_vectors: ItemVectors) -> ItemFeatures:
    return ItemFeatures(products, item_vectors)
