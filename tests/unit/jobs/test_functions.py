"""Job functions on SQLite + the in-process cache with fake models, and fake profiles except
where the feed's candidates must be the profile service's own."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from recgen.core.types import Product
from recgen.generation.cache import MemoryAssetCache
from recgen.generation.engine import GenerationEngine
from recgen.jobs.context import JobContext
from recgen.jobs.functions import generate_assets, record_events, refresh_feeds, stale_user_ids
from recgen.profiles.model import ItemFeatures
from recgen.profiles.service import ProfileService
from recgen.retrieval.candidates import Retriever
from recgen.retrieval.index import VectorIndex
from recgen.retrieval.item_vectors import ItemVectors
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import GeneratedAssetRow, InteractionRow
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users
from tests.support.fakes import FakeImage, FakeProfiles, FakeText, product

CANDIDATES = {0: [1, 2, 3], 1: [2, 3, 4]}


@pytest.fixture()
def ctx(sqlite_url: str) -> JobContext:
    upgrade(sqlite_url)
    factory = session_factory(make_engine(sqlite_url))
    with session_scope(factory) as session:
        upsert_products(session, products=[product(p) for p in range(1, 6)])
        upsert_users(session, users=[{"id": u} for u in range(1, 7)])
    return JobContext(
        engine=GenerationEngine(text=FakeText(), image=FakeImage()),
        cache=MemoryAssetCache(ttl=600, jitter=0.1),
        sessions=factory,
        profiles=FakeProfiles(CANDIDATES),
        feed_size=3,
        lock_wait_s=0.3,
    )


def _audit_rows(ctx: JobContext) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(GeneratedAssetRow)) or 0)


def test_refresh_shares_persona_assets_and_writes_feeds_and_audit(ctx: JobContext) -> None:
    summary = refresh_feeds(ctx, user_ids=[1, 2, 3, 4])
    # 4 users x 3 products x 2 kinds requested; 2 personas x 3 products x 2 kinds unique.
    assert summary["requested"] == 24 and summary["unique"] == 12 and summary["generated"] == 12
    assert summary["reused"] == 12
    feed = ctx.cache.get_feed(3)
    assert feed is not None and [i.product_id for i in feed.items] == CANDIDATES[1]
    item = feed.items[0]
    assert item.persona_id == 1 and item.text_key == "asset:text:t1:p2:s1"
    assert item.image_key is not None
    assert ctx.cache.get_many([item.image_key])[item.image_key] is not None
    assert _audit_rows(ctx) == 12
    again = refresh_feeds(ctx, user_ids=[1, 2, 5])
    assert again["generated"] == 0 and again["cache_hits"] == again["unique"]
    assert _audit_rows(ctx) == 12


def test_failed_product_serves_stock_and_the_rest_of_the_feed_survives(ctx: JobContext) -> None:
    ctx.engine = GenerationEngine(text=FakeText(fail_products={2}), image=FakeImage())
    summary = refresh_feeds(ctx, user_ids=[2])
    feed = ctx.cache.get_feed(2)
    assert feed is not None
    by_product = {i.product_id: i for i in feed.items}
    assert by_product[2].text_key is None and by_product[2].image_key is not None
    assert by_product[2].text_gate is not None and not by_product[2].text_gate.passed
    assert by_product[1].text_key is not None and by_product[3].text_key is not None
    assert summary["failed"] == 1
    # A failure is not cached: the next refresh tries again.
    assert refresh_feeds(ctx, user_ids=[2])["failed"] == 1


def test_gate_rejection_is_remembered_not_served(ctx: JobContext) -> None:
    text = FakeText(reject_products={1})
    ctx.engine = GenerationEngine(text=text, image=FakeImage())
    first = generate_assets(ctx, user_id=2, product_ids=[1, 3], kinds=["text"])
    assert first["rejected"] == 1
    assert [i["text_key"] for i in first["items"]] == [None, "asset:text:t1:p3:s0"]
    second = generate_assets(ctx, user_id=4, product_ids=[1, 3], kinds=["text"])
    assert second["generated"] == 0 and second["items"][0]["text_key"] is None
    with session_scope(ctx.sessions) as session:
        rejected = session.scalars(
            select(GeneratedAssetRow).where(GeneratedAssetRow.gate_passed.is_(False))
        ).all()
    assert [(r.product_id, r.gate_reasons) for r in rejected] == [(1, ["off_topic"])]


def test_a_locked_key_is_awaited_not_generated_twice(ctx: JobContext) -> None:
    key = "asset:text:t1:p5:s0"
    assert ctx.cache.acquire(key, ttl=30)  # another worker is generating it
    threading.Timer(0.1, lambda: ctx.cache.put_many({key: b"theirs"})).start()
    started = time.monotonic()
    got = generate_assets(ctx, user_id=2, product_ids=[5], kinds=["text"])
    assert got["items"][0]["text_key"] == key and got["generated"] == 0
    assert got["waited_for_other_worker"] == 1
    assert ctx.cache.acquire("asset:text:t1:p4:s0", ttl=30)
    pending = generate_assets(ctx, user_id=2, product_ids=[4], kinds=["text"])
    assert time.monotonic() - started >= ctx.lock_wait_s
    # Not generated twice: referenced, absent (readers serve stock) until its owner writes it.
    assert pending["generated"] == 0 and pending["pending_on_other_worker"] == 1
    assert pending["items"][0]["text_key"] == "asset:text:t1:p4:s0"
    assert ctx.cache.missing(["asset:text:t1:p4:s0"]) == ["asset:text:t1:p4:s0"]


def test_stale_users_skip_fresh_feeds(ctx: JobContext) -> None:
    refresh_feeds(ctx, user_ids=[1, 2])
    assert stale_user_ids(ctx, limit=100) == [3, 4, 5, 6]
    assert stale_user_ids(ctx, limit=2, page=1) == [3, 4]
    ctx.feed_max_age_s = 0.0
    time.sleep(0.01)
    assert stale_user_ids(ctx, limit=100) == [1, 2, 3, 4, 5, 6]


def test_record_events_is_idempotent(ctx: JobContext) -> None:
    events = [
        {"event_id": "e1", "user_id": 1, "product_id": 2, "kind": "click"},
        {
            "event_id": "e2",
            "user_id": 1,
            "product_id": 3,
            "kind": "view",
            "occurred_at": "2026-11-28T10:00:00+00:00",
        },
    ]
    assert record_events(ctx, events=[*events, events[0]]) == {
        "received": 3, "stored": 2, "dead_lettered": 0}
    assert record_events(ctx, events=events) == {"received": 2, "stored": 0, "dead_lettered": 0}
    assert isinstance(ctx.profiles, FakeProfiles)
    # The resent batch stored nothing new, so nothing was folded.
    assert ctx.profiles.folds == [{1: [(2, "click"), (3, "view")]}]
    with session_scope(ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(InteractionRow)) == 2


def test_record_events_folds_a_batch_once_each_users_events_in_order(ctx: JobContext) -> None:
    events = [
        {"event_id": "f1", "user_id": 2, "product_id": 1, "kind": "view"},
        {"event_id": "f2", "user_id": 3, "product_id": 2, "kind": "click"},
        {"event_id": "f3", "user_id": 2, "product_id": 4, "kind": "purchase"},
        {"event_id": "f1", "user_id": 2, "product_id": 1, "kind": "view"},  # resent
    ]
    assert record_events(ctx, events=events) == {"received": 4, "stored": 3, "dead_lettered": 0}
    assert isinstance(ctx.profiles, FakeProfiles)
    assert ctx.profiles.folds == [{2: [(1, "view"), (4, "purchase")], 3: [(2, "click")]}]


def test_refresh_feeds_serves_the_profile_services_popularity_blend(
    sqlite_url: str, products: list[Product], item_vectors: ItemVectors
) -> None:
    upgrade(sqlite_url)
    factory = session_factory(make_engine(sqlite_url))
    with session_scope(factory) as session:
        upsert_products(session, products=products)
        upsert_users(session, users=[{"id": 1, "gender": "Women",
                                      "signup_preferences": {"usage": "Sports"}}])
    items = ItemFeatures(products, item_vectors)
    index = VectorIndex.build(item_vectors.product_ids, item_vectors.text, model_version="t")
    plain = ProfileService(items, products, retriever=Retriever(index))
    with session_scope(factory) as session:
        profile = plain.profile_for(session, 1)
    nearest = plain.candidates_for(profile, 10)
    # The most popular items lie outside the 3 nearest but inside the pool of 10.
    popularity = {nearest[9]: 9.0, nearest[8]: 8.0, nearest[5]: 7.0}
    service = ProfileService(items, products,
                             retriever=Retriever(index, popularity=popularity, pool=10))
    blended = service.candidates_for(profile, 3)
    assert blended == [nearest[9], nearest[8], nearest[5]]
    ctx = JobContext(
        engine=GenerationEngine(text=FakeText(), image=FakeImage()),
        cache=MemoryAssetCache(ttl=600, jitter=0.1),
        sessions=factory,
        profiles=service,
        feed_size=3,
    )
    refresh_feeds(ctx, user_ids=[1])
    feed = ctx.cache.get_feed(1)
    assert feed is not None and [i.product_id for i in feed.items] == blended
