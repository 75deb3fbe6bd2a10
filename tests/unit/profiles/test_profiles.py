from __future__ import annotations

import numpy as np

from recgen.profiles import ProfileService
from recgen.types import Product
from recgen.vectors.items import ItemVectors
from recgen.vectors.profile_model import ItemFeatures


def test_cold_start_without_index_uses_signup_attributes(
    products: list[Product], item_vectors: ItemVectors
) -> None:
    service = ProfileService(ItemFeatures(products, item_vectors), products)
    profile = service.cold_start(1, gender="Men", age=22, preferences={"colour_group": "Red"})
    assert profile.source == "signup" and profile.controls.colour_group == "Red"
    assert np.isclose(np.linalg.norm(profile.vector), 1.0, atol=1e-5)
    nothing = service.cold_start(2, gender=None, age=None, preferences={})
    assert nothing.source == "popularity" and not nothing.vector.any()



def test_candidates_skip_seen_products(products: list[Product],
                                       item_vectors: ItemVectors) -> None:
    from recgen.vectors.index import VectorIndex

    index = VectorIndex.build(item_vectors.product_ids, item_vectors.text, model_version="t")
    service = ProfileService(ItemFeatures(products, item_vectors), products, item_index=index)
    profile = service.cold_start(1, gender="Men", age=30, preferences={})
    first = service.candidates_for(profile, 5)
    again = service.candidates_for(profile, 5, exclude=first[:2])
    assert len(first) == len(again) == 5 and not set(first[:2]) & set(again)
    assert again[:3] == first[2:5]


def test_popularity_blend_reorders_the_nearest_pool(products: list[Product],
                                                    item_vectors: ItemVectors) -> None:
    from recgen.vectors.index import VectorIndex

    index = VectorIndex.build(item_vectors.product_ids, item_vectors.text, model_version="t")
    items = ItemFeatures(products, item_vectors)
    plain = ProfileService(items, products, item_index=index)
    profile = plain.cold_start(1, gender="Women", age=30, preferences={"usage": "Sports"})
    pool = plain.candidates_for(profile, 6)
    popularity = {pool[-1]: 10.0, pool[-2]: 5.0}
    blended = ProfileService(items, products, item_index=index, item_popularity=popularity,
                             pool=6)
    assert blended.candidates_for(profile, 3) == [pool[-1], pool[-2], pool[0]]
