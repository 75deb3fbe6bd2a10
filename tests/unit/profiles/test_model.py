from __future__ import annotations

import dataclasses

import numpy as np

from harness.catalog import random_item_vectors
from recgen.core.types import Product
from recgen.profiles.model import (
    HALF_LIFE_DAYS,
    ItemFeatures,
    ProfileState,
    make_profile,
    rebuild_profiles,
)
from recgen.retrieval.index import normalize

DAY = 86400.0


def test_incremental_updates_equal_bulk_rebuild(items: ItemFeatures,
                                               products: list[Product]) -> None:
    rng = np.random.default_rng(1)
    n = 200
    users = rng.integers(1, 6, n)
    pids = np.array([products[i].product_id for i in rng.integers(0, len(products), n)])
    kinds = rng.choice(["view", "click", "add_to_cart", "purchase"], n)
    times = 1.7e9 + rng.random(n) * 40 * DAY  # deliberately not in time order
    batch = rebuild_profiles(items, user_ids=users, product_ids=pids, kinds=kinds,
                             timestamps=times)
    for i, user in enumerate(batch.user_ids):
        state = ProfileState.empty(items)
        for j in np.flatnonzero(users == user):
            state.add(items, product_id=int(pids[j]), kind=str(kinds[j]), t=float(times[j]))
        # Bring the incremental state to the batch's reference time (no-op weight event).
        decay = 0.5 ** ((batch.t_ref - state.t_ref) / (HALF_LIFE_DAYS * DAY))
        np.testing.assert_allclose(state.vector * decay, batch.vectors[i], rtol=1e-4, atol=1e-5)
        for name, sums in state.attributes.items():
            np.testing.assert_allclose(sums * decay, batch.attributes[name][i], rtol=1e-4,
                                       atol=1e-6)
        assert state.image is not None and batch.image is not None
        np.testing.assert_allclose(state.image * decay, batch.image[i], rtol=1e-4, atol=1e-5)
        assert state.event_count == batch.event_counts[i]


def test_recent_and_stronger_events_dominate(items: ItemFeatures,
                                             products: list[Product]) -> None:
    old, new = products[0], products[1]
    state = ProfileState.empty(items)
    state.add(items, product_id=old.product_id, kind="purchase", t=0.0)
    state.add(items, product_id=new.product_id, kind="click", t=60 * DAY)
    profile = make_profile(7, state, items)
    text = items.vectors.text
    sim_new = float(profile.vector @ normalize(text[items.row_of[new.product_id]])[0])
    sim_old = float(profile.vector @ normalize(text[items.row_of[old.product_id]])[0])
    assert sim_new > sim_old
    assert profile.affinities["article_type"][new.article_type] > 0.9
    assert profile.controls.colour_group == new.colour_group


def test_state_round_trips_through_a_row(items: ItemFeatures, products: list[Product]) -> None:
    state = ProfileState.empty(items)
    for t, product in enumerate(products[:9]):
        state.add(items, product_id=product.product_id, kind="click", t=t * DAY)
    row = state.to_row()
    again = ProfileState.from_row(items, vector=row["vector"], affinities=row["affinities"],
                                  event_count=row["event_count"])
    np.testing.assert_allclose(again.vector, state.vector, rtol=1e-6)
    assert again.t_ref == state.t_ref and again.event_count == 9
    profile = make_profile(1, again, items, age=52)
    assert profile.taste_vector is not None and len(profile.taste_vector) == 8
    assert profile.controls.age_band == "50+"


def test_unknown_product_or_kind_is_ignored(items: ItemFeatures) -> None:
    state = ProfileState.empty(items)
    state.add(items, product_id=-5, kind="click", t=1.0)
    state.add(items, product_id=1000, kind="hover", t=1.0)
    assert state.event_count == 0 and not state.vector.any()


def test_a_catalog_without_photos_rebuilds(products: list[Product]) -> None:
    """Image vectors were computed, but no product had a photo on disk (empty, not absent)."""
    vectors = random_item_vectors(products)
    no_photos = dataclasses.replace(
        vectors, image_ids=np.array([], dtype=np.int64),
        image=np.zeros((0, vectors.image.shape[1]), dtype=np.float32),  # type: ignore[union-attr]
    )
    items = ItemFeatures(products, no_photos)
    pids = np.array([products[0].product_id, products[1].product_id])
    batch = rebuild_profiles(items, user_ids=np.array([1, 1]), product_ids=pids,
                             kinds=np.array(["click", "view"]), timestamps=np.array([1.0, 2.0]))
    assert batch.user_ids.tolist() == [1]
