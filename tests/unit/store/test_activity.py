"""The dashboard's queries on SQLite (PostgreSQL is covered by tests/integration/api)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import GeneratedAssetRow
from recgen.store.repos import activity
from recgen.store.repos.assets import record_assets
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users
from tests.support.fakes import product

NOW = datetime(2026, 11, 28, 20, 30, tzinfo=UTC)


@pytest.fixture()
def factory(sqlite_url: str) -> sessionmaker[Session]:
    upgrade(sqlite_url)
    f = session_factory(make_engine(sqlite_url))
    with session_scope(f) as session:
        upsert_products(session, products=[product(1), product(2, "Jeans")])
        upsert_users(session, users=[{"id": u} for u in (3, 5, 9)])
    return f


def _asset(session: Session, key: str, kind: str, passed: bool, reasons: list[str]) -> None:
    record_assets(session, assets=[{
        "kind": kind,
        "product_id": 1,
        "model_name": f"{kind}-model",
        "model_version": "v1",
        "seed": 1,
        "conditions": {},
        "gate_passed": passed,
        "gate_reasons": reasons,
        "cache_key": key,
        "persona_id": 0,
    }])


def test_users_page_is_keyset_paged_with_event_counts(factory: sessionmaker[Session]) -> None:
    events = [
        {"event_id": f"e{i}", "user_id": 5, "product_id": 1, "kind": "view"} for i in range(3)
    ]
    with session_scope(factory) as session:
        add_interactions(session, events=events)
        first = activity.users_page(session, limit=2)
        rest = activity.users_page(session, after_id=5, limit=2)
    assert [(u["user_id"], u["events"]) for u in first] == [(3, 0), (5, 3)]
    assert [u["user_id"] for u in rest] == [9]


def test_interaction_mix_counts_kinds_per_attribute(factory: sessionmaker[Session]) -> None:
    events = [
        {"event_id": "a", "user_id": 3, "product_id": 1, "kind": "view"},
        {"event_id": "b", "user_id": 3, "product_id": 1, "kind": "click"},
        {"event_id": "c", "user_id": 3, "product_id": 2, "kind": "view"},
    ]
    with session_scope(factory) as session:
        add_interactions(session, events=events)
        mix = activity.interaction_mix(session, user_id=3)
        recent = activity.recent_interactions(session, user_id=3, limit=2)
    assert mix["article_type"] == {"Tshirts": {"view": 1, "click": 1}, "Jeans": {"view": 1}}
    assert mix["usage"] == {"Casual": {"view": 2, "click": 1}}
    assert len(recent) == 2


def test_generation_summary_reasons_and_hourly_timeline(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        _asset(session, "t1", "text", True, [])
        _asset(session, "t2", "text", False, ["unsafe term", "low_fidelity: 0.2"])
        _asset(session, "t3", "text", False, ["low_fidelity: 0.4"])
        _asset(session, "i1", "image", True, [])
        _asset(session, "old", "image", False, ["article_mismatch"])
        for key, at in (("t1", NOW), ("t2", NOW), ("t3", NOW - timedelta(hours=1))):
            session.execute(
                update(GeneratedAssetRow)
                .where(GeneratedAssetRow.cache_key == key)
                .values(created_at=at)
            )
        session.execute(
            update(GeneratedAssetRow)
            .where(GeneratedAssetRow.cache_key.in_(["i1", "old"]))
            .values(created_at=NOW - timedelta(days=3))
        )
    since = NOW - timedelta(hours=24)
    with session_scope(factory) as session:
        summary = activity.generation_summary(session, since=since)
        reasons = activity.rejection_reasons(session, since=since)
        timeline = activity.generation_timeline(session, since=since)
    assert summary == [
        {
            "kind": "text",
            "model_name": "text-model",
            "model_version": "v1",
            "generated": 3,
            "passed": 1,
            "rejected": 2,
        }
    ]
    assert reasons[0] == {"kind": "text", "reason": "low_fidelity", "count": 2}
    for reason in (
        "classifier sees 'Shirts' (p=0.32), not 'Watches' (p=0.06)",
        "classifier sees 'Tops' (p=0.5), not 'Shirts: formal' (p=0.1)",
    ):
        assert activity.reason_label(reason) == "classifier sees '…' (p=…), not '…' (p=…)"
    assert {r["reason"] for r in reasons} == {"low_fidelity", "unsafe term"}
    assert timeline == [
        {"hour": "2026-11-28T19:00", "kind": "text", "passed": False, "count": 1},
        {"hour": "2026-11-28T20:00", "kind": "text", "passed": False, "count": 1},
        {"hour": "2026-11-28T20:00", "kind": "text", "passed": True, "count": 1},
    ]
