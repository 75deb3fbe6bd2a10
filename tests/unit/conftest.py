"""Small deterministic catalogs and random item vectors for the unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.catalog import make_products, random_item_vectors
from recgen.core.types import Product
from recgen.profiles.model import ItemFeatures
from recgen.retrieval.item_vectors import ItemVectors


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
