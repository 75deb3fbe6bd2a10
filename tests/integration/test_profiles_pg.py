"""Profiles built from interactions stored in a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from harness.catalog import make_products, random_item_vectors
from recgen.core.types import UserEvent
from recgen.experiments.simulator import Simulator, user_rows
from recgen.profiles.model import PROFILE_VERSION, ItemFeatures, ProfileState
from recgen.profiles.service import ProfileService, open_service
from recgen.retrieval.index import VectorIndex
from recgen.store import migrate
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import UserProfileRow
from recgen.store.repos.interactions import add_interactions, click_counts
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users

pytestmark = pytest.mark.integration
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    name = f"recgen_profiles_{uuid.uuid4().hex[:10]}"
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_profiles_from_postgres_interactions(pg_url: str, tmp_path: Path) -> None:
    products = make_products()
    item_vectors = random_item_vectors(products)
    engine = make_engine(pg_url)
    factory = session_factory(engine)
    sim = Simulator(products, seed=4)
    users = sim.users(25)
    log = sim.events(users, views_per_user=8)
    with session_scope(factory) as session:
        upsert_products(session, products=products)
        upsert_users(session, users=user_rows(users))
        add_interactions(session, events=list(log.as_dicts()))
        # Count rows: add_interactions' rowcount is -1 on psycopg (reported to the lead).
        assert session.scalar(text("SELECT count(*) FROM interactions")) == len(log)
    items = ItemFeatures(products, item_vectors)
    service = ProfileService(items, products)
    with session_scope(factory) as session:
        batch = service.rebuild_all(session)
    assert len(batch.user_ids) == 25

    ids = [u.user_id for u in users[:10]]
    with session_scope(factory) as session:
        one_by_one = [service.profile_for(session, u) for u in ids]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        with session_scope(factory) as session:
            together = service.profiles_for(session, ids)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    # Profile rows and user rows in one query each (not two per user), and the same profiles.
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    for a, b in zip(one_by_one, together, strict=True):
        assert (a.user_id, a.controls, a.event_count) == (b.user_id, b.controls, b.event_count)
        np.testing.assert_array_equal(a.vector, b.vector)

    user = users[0]
    with session_scope(factory) as session:
        stored = service.profile_for(session, user.user_id)
        # The same user folded in event by event from interactions_for_users agrees.
        session.delete(session.get(UserProfileRow, user.user_id))
        session.flush()
        replayed = service.profile_for(session, user.user_id)
    assert stored.source == replayed.source == "history"
    assert stored.event_count == int((log.user_ids == user.user_id).sum())
    np.testing.assert_allclose(stored.vector, replayed.vector, atol=1e-5)
    assert stored.controls == replayed.controls
    assert stored.controls.age_band == user.age_band

    # An event updates the stored row and the user index in place.
    service.user_index = VectorIndex.build(
        batch.user_ids, batch.vectors, model_version=PROFILE_VERSION
    )
    when = datetime.fromtimestamp(batch.t_ref, UTC) + timedelta(hours=1)
    event: dict[str, Any] = {"user_id": user.user_id, "product_id": products[5].product_id,
                             "kind": "purchase"}
    with session_scope(factory) as session:
        # No row (deleted above): the profile is replayed from SQL, this event included.
        add_interactions(session, events=[{**event, "occurred_at": when}])
        service.record_events(session, events={
            user.user_id: [UserEvent(products[5].product_id, "purchase", when)]})
        # With rows: two users' next events are folded into their stored sums, in order, in
        # one call: one read of the profile rows, one write.
        later = when + timedelta(minutes=5)
        other = users[1]
        folded = {
            user.user_id: [UserEvent(products[6].product_id, "click", when + timedelta(minutes=2)),
                           UserEvent(products[5].product_id, "purchase", later)],
            other.user_id: [UserEvent(products[7].product_id, "add_to_cart", later)],
        }
        add_interactions(session, events=[
            {"user_id": u, "product_id": e.product_id, "kind": e.kind,
             "occurred_at": e.occurred_at} for u, events in folded.items() for e in events])
        session.flush()
        statements.clear()
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            service.record_events(session, events=folded)
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
    verbs = [s.lstrip().split()[0].upper() for s in statements]
    assert sorted(verbs) == ["INSERT", "SELECT"]
    expected_counts = {user.user_id: stored.event_count + 3,
                       other.user_id: int((log.user_ids == other.user_id).sum()) + 1}
    for user_id, expected_count in expected_counts.items():
        with factory() as session:
            row = session.get(UserProfileRow, user_id)
            assert row is not None and row.event_count == expected_count
            state = ProfileState.from_row(
                items, vector=row.vector, affinities=row.affinities, event_count=row.event_count
            )
            assert state.t_ref == pytest.approx(later.timestamp())
            incremental = service.profile_for(session, user_id)
            session.delete(row)
            session.flush()
            replayed = service.profile_for(session, user_id)
            session.rollback()
        np.testing.assert_allclose(incremental.vector, replayed.vector, atol=1e-5)
        assert replayed.event_count == incremental.event_count
        assert replayed.controls == incremental.controls
        # The user index holds the folded profile's vector.
        np.testing.assert_allclose(
            service.user_index.reconstruct(user_id), incremental.vector, atol=1e-6
        )

    # A worker start: a corrupt user index is rebuilt from SQL, never served.
    item_vectors.save(tmp_path / "items")
    service.user_index.save(tmp_path, "users")
    (tmp_path / "users.faiss").write_bytes(b"garbage")
    with session_scope(factory) as session:
        started = open_service(session, index_dir=tmp_path, products=products)
        assert started.user_index is not None and started.user_index.count == 25
        # The feed's candidates are blended with the stored clicks.
        assert started.retriever.popularity == click_counts(session)
        assert started.retriever.popularity  # the log has clicks
        cold = started.cold_start(10_000, gender="Women", age=40, preferences={"usage": "Casual"})
    assert cold.source == "lookalike" and cold.controls.age_band == "35-49"

    # An intact file that is behind SQL (one profile fewer) is rebuilt too.
    service.user_index.remove([user.user_id])
    service.save_indexes(tmp_path)
    with session_scope(factory) as session:
        restarted = open_service(session, index_dir=tmp_path, products=products)
    assert restarted.user_index is not None and restarted.user_index.count == 25
    assert started.candidates_for(cold, 5) and len(started.candidates_for(cold, 5)) == 5
    engine.dispose()
