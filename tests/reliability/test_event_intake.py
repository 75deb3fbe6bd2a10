"""Accepted means kept: what POST /v1/events answers 202 is stored, exactly once, or was refused
with a 422 naming the event and field; what a worker cannot store is dead-lettered with its
reason, never lost with its batch.

The real app (in-process, real Celery dispatcher) on a migrated PostgreSQL database of its
own, the shared Redis (own prefix and queue) and a real Celery worker process.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from harness.catalog import random_item_vectors
from harness.worker_process import celery_worker, wait_for_task
from harness.world import (
    KEYS,
    PRODUCTS,
    api_settings,
    headers,
    purged,
    seeded_database,
    settings_env,
)
from recgen.api.app import create_app
from recgen.runtime.dispatch import Dispatcher
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.experiments import ensure_users
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL
from tests.support.services import OwnRedis
from tests.support.world import worker_env

PRODUCT = PRODUCTS[0].product_id
FUZZ_USERS = list(range(1, 7))
TASK_TIMEOUT_S = 60.0
# A deterministic stand-in engine: these tests are about storing events, not generating.
LIGHT = "harness.light_engine"


def _principal(scope: str) -> str:
    # seed() names each key after its scope and the key's last six characters.
    return f"rel-{scope}-{KEYS[scope][-6:]}"


@dataclass
class Intake:
    client: TestClient
    db_url: str
    dispatcher: Dispatcher

    def post(self, events: list[dict[str, Any]], scope: str = "backend") -> Any:
        return self.client.post("/v1/events", json={"events": events}, headers=headers(scope))

    def accepted(self, events: list[dict[str, Any]], scope: str = "backend") -> dict[str, Any]:
        """Post, expect 202 and wait until the worker has stored the batch."""
        response = self.post(events, scope)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        self.finish(body["task_id"])
        return body

    def finish(self, task_id: str) -> Any:
        state, result = wait_for_task(self.dispatcher, task_id, timeout=TASK_TIMEOUT_S)
        assert state == "SUCCESS", result
        return result

    def rows(self, query: str, **params: Any) -> list[Any]:
        from sqlalchemy import create_engine

        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), params).all())
        finally:
            engine.dispose()

    def stored(self, event_ids: list[str]) -> list[tuple[str, str, str]]:
        """(principal, event_id, kind) of every stored interaction with one of these ids."""
        return sorted(self.rows(
            "SELECT principal, event_id, kind FROM interactions WHERE event_id = ANY(:ids)",
            ids=event_ids))

    def dead(self, principal: str) -> list[tuple[dict[str, Any], str, str]]:
        """(event, field, reason) of each of ``principal``'s dead letters."""
        rows = self.rows("SELECT payload, field, reason FROM event_dead_letters "
                         "WHERE principal = :p ORDER BY id", p=principal)
        return [(json.loads(row[0]), row[1], row[2]) for row in rows]


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    tmp = tmp_path_factory.mktemp("event-intake")
    random_item_vectors(PRODUCTS).save(tmp / "indexes" / "items")
    with seeded_database(PG_ADMIN_URL) as db_url:
        prefix = f"rel-intake-{uuid.uuid4().hex[:8]}"
        settings = api_settings(db_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix)
        env = {**settings_env(settings), **worker_env(db_url, tmp / "indexes", prefix)}
        with purged(settings.redis_url, prefix), \
                celery_worker(env, tmp / "worker.log", include=[LIGHT]), \
                TestClient(create_app(settings)) as client:
            # The fuzz test's worker-only batches reference these users (the API would have
            # made their rows).
            with session_scope(session_factory(make_engine(db_url))) as session:
                ensure_users(session, user_ids=FUZZ_USERS)
            yield Intake(client, db_url, client.app.state.recgen.dispatcher)  # type: ignore[attr-defined]


def _event(tag: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{tag}-{uuid.uuid4().hex[:10]}", "user_id": 5, "product_id": PRODUCT,
            "kind": "view", **fields}


def _locs(response: Any) -> set[str]:
    assert response.status_code == 422, response.text
    return {d["loc"] for d in response.json()["error"]["details"]}


def test_a_nul_byte_is_refused_naming_it_and_its_batch_writes_nothing(intake: Intake) -> None:
    # The reported batch: before, 202 and the worker lost both events to PostgreSQL's
    # "cannot contain NUL"; the user row was committed regardless.
    user = 900_001
    ok = _event("ok", user_id=user, kind="purchase", value=10)
    bad = _event("bad", user_id=user)
    bad["event_id"] = "bad\u0000"
    assert _locs(intake.post([ok, bad])) == {"body.events.1.event_id"}
    assert intake.rows("SELECT id FROM users WHERE id = :u", u=user) == []
    for control in ("\u0007", "\u001b[31m", "\u007f", "\u0085"):
        bad["event_id"] = f"bad{control}"
        assert _locs(intake.post([ok, bad])) == {"body.events.1.event_id"}, repr(control)
    body = intake.accepted([ok])
    assert (body["new"], body["duplicates"]) == (1, 0)
    assert intake.stored([ok["event_id"]]) == [(_principal("backend"), ok["event_id"], "purchase")]


@pytest.mark.parametrize("when", [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC: stored as BC, unreadable
    (datetime.now(UTC) - timedelta(days=40)).isoformat(),
    (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
])
def test_a_time_outside_the_window_is_refused(intake: Intake, when: str) -> None:
    # Before, the year-1 date was 202 and stored as a BC timestamp that broke the index
    # rebuild, the user's feed refresh and every later batch of that user.
    good = _event("when-ok")
    assert _locs(intake.post([good, _event("when", occurred_at=when)])) == {
        "body.events.1.occurred_at"}
    assert intake.stored([good["event_id"]]) == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-1"])
def test_a_value_that_is_not_finite_and_non_negative_is_refused(intake: Intake,
                                                               value: str) -> None:
    # Before, NaN was 202 and stored: it poisons every sum over purchase values. The body
    # is written by hand: NaN is not JSON, but Python's and JavaScript's encoders emit it.
    body = json.dumps({"events": [_event("v", kind="purchase")]})[:-3] + f', "value": {value}}}]}}'
    response = intake.client.post("/v1/events", content=body, headers={
        **headers("backend"), "content-type": "application/json"})
    assert _locs(response) == {"body.events.0.value"}


def test_event_ids_are_scoped_per_key(intake: Intake) -> None:
    # Before, a second key's purchase under an id the first key had used was 202 and
    # silently not stored: one client could squat another's ids.
    view = _event("shared")
    purchase = {**view, "kind": "purchase", "value": 25.0}
    intake.accepted([view], "backend")
    body = intake.accepted([purchase], "recommender")
    assert (body["new"], body["duplicates"]) == (1, 0)
    # A resend by the same key is a duplicate, said so, and stored once.
    again = intake.accepted([purchase], "recommender")
    assert (again["new"], again["duplicates"]) == (0, 1)
    assert intake.stored([view["event_id"]]) == [
        (_principal("backend"), view["event_id"], "view"),
        (_principal("recommender"), view["event_id"], "purchase"),
    ]


def test_one_id_twice_in_a_batch_is_refused_naming_both(intake: Intake) -> None:
    # Before, a view and a purchase under one id were 202 and the purchase was dropped.
    view = _event("twice")
    response = intake.post([view, _event("other"), {**view, "kind": "purchase"}])
    assert _locs(response) == {"body.events.2.event_id"}
    assert "events[0]" in response.json()["error"]["details"][0]["message"]
    assert intake.stored([view["event_id"]]) == []


def test_the_worker_dead_letters_what_it_cannot_store_and_keeps_the_rest(
    intake: Intake,
) -> None:
    # A task that bypasses the API's checks (an older API, a replay): before, one bad row
    # failed the task and every event of the batch was lost.
    ok = _event("w-ok", kind="purchase", value=3.0, principal="replay")
    bad = [
        _event("w-nul", principal="replay") | {"event_id": "w\u0000nul"},
        _event("w-bc", principal="replay", occurred_at="0001-01-01T00:00:00+14:00"),
        _event("w-nan", principal="replay", value=math.nan),
        _event("w-product", principal="replay", product_id=2**31 - 2),  # unknown: FK refuses
        {**ok, "kind": "click"},  # the same id as ``ok`` with other fields
    ]
    result = intake.finish(intake.dispatcher.submit_events([ok, *bad]))
    assert (result["stored"], result["dead_lettered"]) == (1, len(bad))
    assert intake.stored([ok["event_id"]]) == [("replay", ok["event_id"], "purchase")]
    dead = intake.dead("replay")
    assert sorted(field for _, field, _ in dead) == sorted(
        ["event_id", "occurred_at", "value", "row", "event_id"])
    assert all(reason for _, _, reason in dead)
    # The payload keeps the event as sent, the NUL included (escaped in the JSON text).
    assert {event["event_id"] for event, _, _ in dead} >= {"w\u0000nul", ok["event_id"]}
    # Redelivered, the batch stores nothing twice.
    assert intake.finish(intake.dispatcher.submit_events([ok]))["stored"] == 0


BAD_KINDS: dict[str, tuple[str, Any]] = {
    "nul": ("event_id", "x\u0000y"),
    "control": ("event_id", "x\u0001y"),
    "exposure-control": ("exposure_id", "e\u001b"),
    "year-one": ("occurred_at", "0001-01-01T00:00:00+14:00"),
    "year-9999": ("occurred_at", "9999-12-31T23:59:59+00:00"),
    "nan": ("value", math.nan),
    "infinity": ("value", math.inf),
    "negative": ("value", -5.0),
    "long-id": ("event_id", "x" * 65),
}


def test_fuzz_every_valid_event_is_stored_once_every_bad_one_refused_or_dead_lettered(
    intake: Intake,
) -> None:
    rng = random.Random(20261201)
    expected: dict[tuple[str, str], str] = {}  # (principal, id) -> the kind it is stored as
    used: list[str] = []  # ids already used by either key; the other key may reuse them
    worker_bad: dict[int, str] = {}  # user id (unique per bad event) -> the field at fault
    for batch_no in range(24):
        scope = rng.choice(["backend", "recommender"])
        principal = _principal(scope)
        valid: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 5)):
            event = _event(f"fz{batch_no}", kind=rng.choice(["view", "click", "purchase"]),
                           user_id=rng.choice(FUZZ_USERS), value=rng.choice([None, 1.5]))
            if used and rng.random() < 0.3:
                event["event_id"] = rng.choice(used)
            if (principal, event["event_id"]) in expected or any(
                    v["event_id"] == event["event_id"] for v in valid):
                continue  # that key's resend: not a new valid event
            valid.append(event)
        bad_kind = rng.choice(sorted(BAD_KINDS))
        field, bad_value = BAD_KINDS[bad_kind]
        bad = _event(f"fzbad{batch_no}", user_id=800_000 + batch_no) | {field: bad_value}
        if batch_no % 3 == 0:
            # Straight to a worker, as a task that skipped the API: the bad one dead-lettered.
            batch = [{**e, "principal": principal} for e in [*valid, bad]]
            rng.shuffle(batch)
            result = intake.finish(intake.dispatcher.submit_events(batch))
            assert (result["stored"], result["dead_lettered"]) == (len(valid), 1), bad_kind
            worker_bad[bad["user_id"]] = field
        else:
            where = rng.randint(0, len(valid))
            batch = [*valid[:where], bad, *valid[where:]]
            repeat = bool(valid) and rng.random() < 0.5
            if repeat:  # one id twice in the batch, as a purchase the second time
                batch.append({**valid[0], "kind": "purchase"})
            # json.dumps writes NaN and Infinity, as a careless client's encoder does.
            response = intake.client.post(
                "/v1/events", content=json.dumps({"events": batch}),
                headers={**headers(scope), "content-type": "application/json"})
            locs = _locs(response)
            assert f"body.events.{where}.{field}" in locs, (bad_kind, locs)
            # The repeat is named with the route's checks, which run once the schema's pass
            # (the time window is one of them).
            if repeat and field == "occurred_at":
                assert f"body.events.{len(batch) - 1}.event_id" in locs, locs
            if valid:  # the client drops what was refused: the rest is accepted
                intake.accepted(valid, scope)
        for event in valid:
            expected[(principal, event["event_id"])] = event["kind"]
            used.append(event["event_id"])
    rows = intake.stored(sorted({event_id for _, event_id in expected}))
    # Each exactly once, under its own key, as the kind that was sent: 0 lost, 0 doubled.
    assert sorted((p, e) for p, e, _ in rows) == sorted(expected)
    assert {(p, e): k for p, e, k in rows} == expected
    dead = [(event["user_id"], field) for scope in ("backend", "recommender")
            for event, field, _ in intake.dead(_principal(scope))
            if event.get("user_id", 0) >= 800_000]
    assert sorted(dead) == sorted(worker_bad.items())


def test_with_redis_down_errors_are_json_and_nothing_is_committed(
    own_redis: OwnRedis, tmp_path: Path
) -> None:
    # Before, the NUL batch with the broker down was a text/plain 500 and the user row stayed.
    with seeded_database(PG_ADMIN_URL) as db_url:
        settings = api_settings(db_url, own_redis.url().rsplit("/", 1)[0],
                                f"rel-down-{uuid.uuid4().hex[:8]}")
        # raise_server_exceptions=False: see the response a client gets, not the traceback.
        with TestClient(create_app(settings), headers=headers("backend"),
                        raise_server_exceptions=False) as client:
            own_redis.kill()
            intake = Intake(client, db_url, client.app.state.recgen.dispatcher)  # type: ignore[attr-defined]
            user = 900_002
            bad = _event("down", user_id=user) | {"event_id": "down\u0000"}
            refused = intake.post([_event("down-ok", user_id=user), bad])
            assert refused.headers["content-type"] == "application/json"
            assert _locs(refused) == {"body.events.1.event_id"}
            assert intake.rows("SELECT id FROM users WHERE id = :u", u=user) == []
            ok = _event("down-ok", user_id=user, kind="purchase", value=4.0)
            accepted = intake.post([ok])
            assert accepted.status_code == 202, accepted.text
            assert accepted.json() == {"accepted": 1, "new": 1, "duplicates": 0, "task_id": None}
            assert intake.stored([ok["event_id"]]) == [
                (_principal("backend"), ok["event_id"], "purchase")]


def test_the_migration_moves_rows_that_cannot_be_read_back(empty_pg_url: str) -> None:
    # Rows stored before the API refused them (a BC time, a NaN value) broke every read of
    # the log; the migration moves them to the dead letters, where they break nothing.
    from sqlalchemy import create_engine

    from recgen.store.migrate import upgrade

    upgrade(empty_pg_url, "0002")
    seed_rows = [
        ("bc", "TIMESTAMPTZ '0001-01-01 00:00:00+14'", "NULL"),
        ("nan", "now()", "'NaN'::float8"),
        ("fine", "now()", "2.0"),
    ]
    engine = create_engine(empty_pg_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, created_at, signup_preferences) "
                          "VALUES (5, now(), '{}')"))
        conn.execute(text("INSERT INTO products (id, gender, master_category, sub_category, "
                          "article_type, base_colour, colour_group, title, updated_at) VALUES "
                          "(1, 'Men', 'Apparel', 'Topwear', 'Tshirts', 'Blue', 'blue', 't', "
                          "now())"))
        for event_id, when, value in seed_rows:
            conn.execute(text("INSERT INTO interactions (event_id, user_id, product_id, kind, "
                              f"occurred_at, value) VALUES ('{event_id}', 5, 1, 'view', "
                              f"{when}, {value})"))
    upgrade(empty_pg_url)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT event_id, occurred_at FROM interactions")).all()
        moved = dict(conn.execute(text("SELECT event_id, field FROM event_dead_letters")).all())
    engine.dispose()
    assert [row[0] for row in kept] == ["fine"]  # and readable: occurred_at was converted
    assert moved == {"bc": "occurred_at", "nan": "value"}
