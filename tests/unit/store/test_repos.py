from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from recgen.core.types import Product
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.activity import assets_by_keys
from recgen.store.repos.assets import record_assets
from recgen.store.repos.interactions import add_interactions, interactions_for_users
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users

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
