from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session

from recgen.core.types import Product, UserEvent
from recgen.profiles.model import PROFILE_VERSION, ItemFeatures
from recgen.profiles.personas import Personas
from recgen.profiles.service import ProfileService
from recgen.retrieval.candidates import Retriever
from recgen.retrieval.index import VectorIndex
from recgen.retrieval.item_vectors import ItemVectors
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import UserProfileRow
from recgen.store.repos.experiments import ensure_users
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.products import upsert_products


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
    index = VectorIndex.build(item_vectors.product_ids, item_vectors.text, model_version="t")
    service = ProfileService(ItemFeatures(products, item_vectors), products,
                             retriever=Retriever(index))
    profile = service.cold_start(1, gender="Men", age=30, preferences={})
    first = service.candidates_for(profile, 5)
    again = service.candidates_for(profile, 5, exclude=first[:2])
    assert len(first) == len(again) == 5 and not set(first[:2]) & set(again)
    assert again[:3] == first[2:5]


def test_popularity_blend_reorders_the_nearest_pool(products: list[Product],
                                                    item_vectors: ItemVectors) -> None:
    index = VectorIndex.build(item_vectors.product_ids, item_vectors.text, model_version="t")
    items = ItemFeatures(products, item_vectors)
    plain = ProfileService(items, products, retriever=Retriever(index))
    profile = plain.cold_start(1, gender="Women", age=30, preferences={"usage": "Sports"})
    pool = plain.candidates_for(profile, 6)
    popularity = {pool[-1]: 10.0, pool[-2]: 5.0}
    blended = ProfileService(items, products,
                             retriever=Retriever(index, popularity=popularity, pool=6))
    assert blended.candidates_for(profile, 3) == [pool[-1], pool[-2], pool[0]]


def test_record_events_folds_current_rows_and_replays_stale_ones(
    products: list[Product], item_vectors: ItemVectors, sqlite_url: str
) -> None:
    upgrade(sqlite_url)
    sessions = session_factory(make_engine(sqlite_url))
    items = ItemFeatures(products, item_vectors)
    other = np.random.default_rng(0).normal(size=(1, items.dimension))
    service = ProfileService(items, products, user_index=VectorIndex.build(
        [99], other, model_version=PROFILE_VERSION))
    start = datetime(2026, 11, 1, tzinfo=UTC)

    def store(session: Session, user_id: int, product_id: int, kind: str,
              minutes: int) -> UserEvent:
        event = UserEvent(product_id, kind, start + timedelta(minutes=minutes))
        add_interactions(session, events=[{"user_id": user_id, "product_id": product_id,
                                           "kind": kind, "occurred_at": event.occurred_at}])
        return event

    first, second = products[0].product_id, products[1].product_id
    with session_scope(sessions) as session:
        upsert_products(session, products=products)
        ensure_users(session, user_ids=[1, 2])
        batch = {1: [store(session, 1, first, "click", 1), store(session, 1, second, "view", 2)],
                 2: [store(session, 2, second, "purchase", 3)]}
        # No rows yet: both users are rebuilt from their stored interactions.
        service.record_events(session, events=batch)
    with session_scope(sessions) as session:
        rows = [session.get(UserProfileRow, u) for u in (1, 2)]
        assert [row.event_count if row else None for row in rows] == [2, 1]

        # User 2's row was made over another item-vector space (another vector length).
        session.execute(update(UserProfileRow).where(UserProfileRow.user_id == 2)
                        .values(vector=b"\0" * 8))
        batch = {1: [store(session, 1, second, "purchase", 4)],
                 2: [store(session, 2, first, "click", 5)]}
        service.record_events(session, events=batch)
    with session_scope(sessions) as session:
        # User 1 folded into its row, user 2 rebuilt from the log: 3 and 2 events.
        for user_id, event_count in ((1, 3), (2, 2)):
            stored = session.get(UserProfileRow, user_id)
            assert stored is not None and stored.event_count == event_count
            assert len(stored.vector) == items.dimension * 4
            from_row = service.profile_for(session, user_id)
            session.delete(stored)
            session.flush()
            from_log = service.profile_for(session, user_id)
            np.testing.assert_allclose(from_row.vector, from_log.vector, atol=1e-5)
            assert from_row.controls == from_log.controls
            np.testing.assert_allclose(
                service.user_index.reconstruct(user_id), from_row.vector, atol=1e-6)


def test_persona_lookup_by_id(products: list[Product], item_vectors: ItemVectors) -> None:
    service = ProfileService(ItemFeatures(products, item_vectors), products)
    assert service.persona(0) is None  # no personas fitted
    profiles = [service.cold_start(u, gender=g, age=30, preferences={"usage": usage})
                for u, (g, usage) in enumerate([("Men", "Sports"), ("Women", "Formal"),
                                                ("Men", "Casual"), ("Women", "Ethnic")])]
    service.personas = Personas.fit(profiles, k=2, model_version=PROFILE_VERSION)
    for persona in service.personas.personas:
        assert service.persona(persona.persona_id) == persona
    assert service.persona(len(service.personas)) is None


def test_cold_start_with_nothing_to_go_on_is_the_largest_persona(
    products: list[Product], item_vectors: ItemVectors
) -> None:
    service = ProfileService(ItemFeatures(products, item_vectors), products)
    profiles = [service.cold_start(u, gender=g, age=30, preferences={"usage": usage})
                for u, (g, usage) in enumerate([("Men", "Sports"), ("Men", "Sports"),
                                                ("Women", "Formal"), ("Men", "Casual")])]
    service.personas = Personas.fit(profiles, k=2, model_version=PROFILE_VERSION)
    largest = service.personas.largest()
    assert service.personas.get(largest).size == max(  # type: ignore[union-attr]
        p.size for p in service.personas.personas)
    nobody = service.cold_start(0, gender=None, age=None, preferences={})
    # Its assets are keyed by that persona: shared with its members, not made for nobody.
    assert (nobody.source, nobody.persona_id) == ("persona", largest)
