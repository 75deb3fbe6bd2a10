from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.exc import IntegrityError

from recgen.core.types import Product
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.activity import assets_by_keys
from recgen.store.repos.assets import record_assets
from recgen.store.repos.interactions import (
    add_interactions,
    click_counts,
    interactions_for_users,
    stored_event_ids,
)
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import (
    count_current_profiles,
    current_profile_vectors,
    get_user_profiles,
    set_profile_personas,
    upsert_user_profiles,
    upsert_users,
    user_ids_after,
)

SHIRT = Product(
    1,
    "Men",
    "Apparel",
    "Topwear",
    "Shirts",
    "Navy Blue",
    "Blue",
    "Fall",
    "Casual",
    "Turtle Check Men Navy Blue Shirt",
)


@pytest.fixture()
def factory(sqlite_url: str):  # type: ignore[no-untyped-def]
    upgrade(sqlite_url)
    f = session_factory(make_engine(sqlite_url))
    with session_scope(f) as session:
        upsert_products(session, products=[SHIRT])
        upsert_users(session, users=[{"id": 7, "age": 31}])
    return f


def test_resent_events_are_stored_once(factory) -> None:  # type: ignore[no-untyped-def]
    event = {"event_id": "e-1", "user_id": 7, "product_id": 1, "kind": "click"}
    with session_scope(factory) as session:
        assert add_interactions(session, events=[event]) == 1
    with session_scope(factory) as session:
        assert add_interactions(session, events=[event, {**event, "event_id": "e-2"}]) == 1
        stored = interactions_for_users(session, user_ids=[7])[7]
        assert [e.event_id for e in stored] == ["e-1", "e-2"]


def test_stored_event_ids_are_the_known_ones(factory) -> None:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        add_interactions(session, events=[
            {"event_id": "e-1", "user_id": 7, "product_id": 1, "kind": "click"},
            {"user_id": 7, "product_id": 1, "kind": "view"},  # no event id
        ])
        assert stored_event_ids(session, principal="", event_ids=["e-1", "e-2"]) == {"e-1"}
        # Ids are scoped per principal: another key's "e-1" is another event.
        assert stored_event_ids(session, principal="other", event_ids=["e-1"]) == set()
        assert stored_event_ids(session, principal="", event_ids=[]) == set()


def test_user_ids_are_paged_in_id_order(factory) -> None:  # type: ignore[no-untyped-def]
    with session_scope(factory) as session:
        upsert_users(session, users=[{"id": u} for u in (3, 12, 5)])
        assert user_ids_after(session, after=-1, limit=3) == [3, 5, 7]
        assert user_ids_after(session, after=5, limit=3) == [7, 12]


def test_current_profiles_are_filtered_by_version_events_and_size(  # type: ignore[no-untyped-def]
    factory,
) -> None:
    row = {"model_version": "p1", "vector": b"\0" * 8, "affinities": {}, "event_count": 2}
    with session_scope(factory) as session:
        upsert_users(session, users=[{"id": u} for u in (1, 2, 3, 4)])
        upsert_user_profiles(session, profiles=[
            {**row, "user_id": 1}, {**row, "user_id": 2, "model_version": "p0"},
            {**row, "user_id": 3, "event_count": 0}, {**row, "user_id": 4, "vector": b"\0" * 4},
        ])
        assert count_current_profiles(session, model_version="p1", vector_bytes=8) == 1
        assert current_profile_vectors(session, model_version="p1", vector_bytes=8) == [
            (1, b"\0" * 8)]
        set_profile_personas(session, personas={1: 5, 3: 6})
    with session_scope(factory) as session:
        rows = get_user_profiles(session, user_ids=[1, 2, 3, 99])
        assert {u: r.persona_id for u, r in rows.items()} == {1: 5, 2: None, 3: 6}


def test_event_for_unknown_user_violates_foreign_key(factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError), session_scope(factory) as session:
        add_interactions(session, events=[{"user_id": 99, "product_id": 1, "kind": "view"}])


def test_asset_record_is_written_once_per_cache_key(factory) -> None:  # type: ignore[no-untyped-def]
    row = {
        "kind": "text",
        "product_id": 1,
        "model_name": "m",
        "model_version": "v1",
        "seed": 3,
        "conditions": {"aspect": "fit"},
        "gate_passed": True,
        "gate_reasons": [],
        "cache_key": "text:1:p2:v1",
        "persona_id": 2,
    }
    with session_scope(factory) as session:
        record_assets(session, assets=[row])
    with session_scope(factory) as session:
        # A redelivered task writes the same keys again, with another verdict: the first stays.
        record_assets(session, assets=[{**row, "gate_passed": False}, {**row, "cache_key": "k2"}])
        stored = assets_by_keys(session, keys=["text:1:p2:v1", "k2"])
    assert sorted(stored) == ["k2", "text:1:p2:v1"]
    assert stored["text:1:p2:v1"].gate_passed is True


def test_click_counts_count_clicks_per_product(factory) -> None:  # type: ignore[no-untyped-def]
    events = [
        {"event_id": f"c{i}", "user_id": 7, "product_id": pid, "kind": kind}
        for i, (pid, kind) in enumerate([(1, "click"), (1, "click"), (2, "click"), (2, "view")])
    ]
    with session_scope(factory) as session:
        upsert_products(session, products=[dataclasses.replace(SHIRT, product_id=2)])
        add_interactions(session, events=events)
        assert click_counts(session) == {1: 2.0, 2: 1.0}
