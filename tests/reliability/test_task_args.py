"""Fuzzed task arguments: a task given garbage fails with a non-transient error (so Celery does
not retry it) and writes nothing; unknown ids are skipped, not crashed on."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from sqlalchemy import func, select

from recgen.generation.cache import MemoryAssetCache
from recgen.generation.engine import GenerationEngine
from recgen.jobs.context import JobContext
from recgen.jobs.functions import generate_assets, record_events
from recgen.runtime.dispatch import generation_kwargs
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import GeneratedAssetRow, InteractionRow
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users
from tests.support.fakes import FakeImage, FakeProfiles, FakeText, product
from workers.tasks import TRANSIENT

SETTINGS = hypothesis.settings(max_examples=40, deadline=None, derandomize=True, database=None,
                               suppress_health_check=list(HealthCheck))
ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                     st.integers(), max_size=2))
EVENT = st.fixed_dictionaries(
    {},
    optional={"event_id": ANY, "user_id": st.one_of(ANY, st.integers(1, 6)),
              "product_id": st.one_of(ANY, st.integers(1, 5)),
              "kind": st.one_of(ANY, st.sampled_from(["view", "click"])),
              "occurred_at": st.one_of(ANY, st.just("2026-01-01T00:00:00+00:00"))},
)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> JobContext:
    """One database for all examples (a migration per example took over a minute)."""
    tmp = tmp_path_factory.mktemp("jobs")
    url = f"sqlite:///{tmp / 'jobs.db'}"
    upgrade(url)
    factory = session_factory(make_engine(url))
    with session_scope(factory) as session:
        upsert_products(session, products=[product(p) for p in range(1, 6)])
        upsert_users(session, users=[{"id": u} for u in range(1, 7)])
    return JobContext(engine=GenerationEngine(text=FakeText(), image=FakeImage()),
                      cache=MemoryAssetCache(ttl=600, jitter=0.0), sessions=factory,
                      profiles=FakeProfiles({0: [1, 2, 3], 1: [2, 3, 4]}), feed_size=3,
                      lock_wait_s=0.0)


def _count(ctx: JobContext, table: Any) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


@SETTINGS
@hypothesis.given(events=st.lists(EVENT, min_size=1, max_size=4))
def test_record_events_with_garbage_fails_cleanly_and_writes_nothing(
    ctx: JobContext, events: list[dict[str, Any]]
) -> None:
    before = _count(ctx, InteractionRow)
    try:
        result = record_events(ctx, events=events)
    except TRANSIENT as exc:  # would be retried: garbage must never look transient
        raise AssertionError(f"garbage raised a transient error: {exc!r}") from exc
    except Exception:
        assert _count(ctx, InteractionRow) == before  # the batch's transaction rolled back
        return
    assert result["received"] == len(events)
    assert _count(ctx, InteractionRow) == before + result["stored"]


@SETTINGS
@hypothesis.given(product_ids=st.lists(st.integers(-(2**70), 2**70), max_size=6),
                  user_id=st.integers(1, 6))
def test_generation_with_unknown_or_absurd_product_ids(
    ctx: JobContext, product_ids: list[int], user_id: int
) -> None:
    kwargs = generation_kwargs(user_id, product_ids, ("text", "image"))
    known = [p for p in dict.fromkeys(product_ids) if 1 <= p <= 5]
    try:
        result = generate_assets(ctx, **kwargs)
    except TRANSIENT as exc:
        raise AssertionError(f"bad ids raised a transient error: {exc!r}") from exc
    except (OverflowError, ValueError):  # an id beyond the column type: refused, not retried
        assert any(abs(p) >= 2**63 for p in product_ids)
        return
    assert sorted({i["product_id"] for i in result["items"]}) == sorted(known)
    keys = [k for i in result["items"] for k in (i["text_key"], i["image_key"]) if k]
    assert len(keys) == 2 * len(known) and not ctx.cache.missing(keys)
    with session_scope(ctx.sessions) as session:
        audited = list(session.scalars(select(GeneratedAssetRow.cache_key)))
    assert len(audited) == len(set(audited)) and set(keys) <= set(audited)
