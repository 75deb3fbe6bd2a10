"""Small deterministic catalogs and random item vectors for the vectors/profiles tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from recgen.types import Product
from recgen.vectors.items import ItemVectors
from recgen.vectors.profile_model import ItemFeatures
from recgen.vectors.testing import make_products, random_item_vectors


@pytest.fixture()
def product_maker() -> Callable[[int], list[Product]]:
    return make_products


@pytest.fixture()
def products() -> list[Product]:
    return make_products()


@pytest.fixture()
def item_vectors(products: list[Product]) -> ItemVectors:
    return random_item_vectors(products)


@pytest.fixture()
def items(products: list[Product], item_vectors: ItemVectors) -> ItemFeatures:
    return ItemFeatures(products, item_vectors)
