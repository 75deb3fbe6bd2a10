"""A bound on the tasks one API key has queued and not finished.

The real app on the session's PostgreSQL and the shared Redis (a prefix and queue of its own),
with the real Celery client and no worker, so tasks stay queued and the broker's queue shows
what was enqueued. Before the bound a key's backlog was limited only by its per-minute rates:
with workers slower than that, it grew without end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

import workers.tasks
from harness.world import PRODUCTS, api_settings, headers, purged, seed
from recgen.api.app import create_app
from recgen.api.state import AppState
from recgen.core.config import Settings
from recgen.store.db import make_engine
from tests.conftest import REDIS_TEST_URL
from tests.support.world import events, queued_tasks, row_counts

BOUND = 3

World = tuple[TestClient, AppState, "redis.Redis[bytes]"]


def make_world(database_url: str, **extra: Any) -> Iterator[World]:
    seed(database_url)
    prefix = f"rel-queued-{uuid.uuid4().hex[:8]}"
    settings = api_settings(database_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                            redis_url=REDIS_TEST_URL, api_queued_tasks_per_key=BOUND, **extra)
    broker: redis.Redis[bytes] = redis.Redis.from_url(settings.broker_url)
    with purged(settings.redis_url, prefix), TestClient(create_app(settings)) as client:
        try:
            yield client, client.app.state.recgen, broker  # type: ignore[attr-defined]
        finally:
            broker.delete(prefix)  # this test's queue on the shared broker
            broker.close()


@pytest.fixture()
def world(migrated_pg_url: str) -> Iterator[World]:
    yield from make_world(migrated_pg_url)


@pytest.fixture()
def lapsing(migrated_pg_url: str) -> Iterator[World]:
    """Unfinished tasks stop counting after 2 s (visibility_timeout_s)."""
    yield from make_world(migrated_pg_url, task_time_limit_s=1, visibility_timeout_s=2)


def generate(client: TestClient, scope: str = "backend") -> Any:
    body = {"user_id": 7, "product_ids": [PRODUCTS[0].product_id]}
    return client.post("/v1/generate", json=body, headers=headers(scope))


def refused(response: Any) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_tasks"
    assert int(response.headers["Retry-After"]) >= 1


def fill(client: TestClient) -> list[str]:
    """The backend key's whole bound of queued generation tasks."""
    accepted = [generate(client) for _ in range(BOUND)]
    assert [a.status_code for a in accepted] == [202] * BOUND
    return [a.json()["task_id"] for a in accepted]


def test_a_key_past_its_queued_tasks_is_refused_and_nothing_is_queued(world: World) -> None:
    client, state, broker = world
    fill(client)
    engine = make_engine(state.settings.database_url)
    before = row_counts(engine)
    refused(generate(client))
    user = 7_500_000 + uuid.uuid4().int % 100_000
    refused(client.post("/v1/events", json={"events": events(user, 2, "queued")},
                        headers=headers("backend")))
    # Nothing queued, nothing written (not even the events' user rows).
    assert len(queued_tasks(broker, state.settings.celery_queue)) == BOUND
    assert row_counts(engine) == before
    engine.dispose()
    # Another key has a bound of its own.
    other = client.post("/v1/events", json={"events": events(user, 2, "queued")},
                        headers=headers("recommender"))
    assert other.status_code == 202, other.text
    assert len(queued_tasks(broker, state.settings.celery_queue)) == BOUND + 1


def test_a_finished_task_stops_counting(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, state, _ = world
    first, *_ = fill(client)
    refused(generate(client))
    # What the workers' base task does after each run, with this test's settings.
    monkeypatch.setattr(workers.tasks, "settings", lambda: state.settings)
    monkeypatch.setattr(workers.tasks, "_counter", None)
    task = workers.tasks.generate_assets
    task.after_return("RETRY", None, first, (), {}, None)  # retried: still queued work
    refused(generate(client))
    task.after_return("SUCCESS", {}, first, (), {}, None)
    assert generate(client).status_code == 202
    refused(generate(client))
    # Its owner record stays: the finished task is still readable by its key.
    assert client.get(f"/v1/tasks/{first}", headers=headers("backend")).status_code == 200


def test_a_task_never_reported_finished_stops_counting_after_it_lapses(
    lapsing: World,
) -> None:
    client, state, _ = lapsing
    settings: Settings = state.settings
    fill(client)
    refused(generate(client))
    time.sleep(settings.visibility_timeout_s + 0.5)  # its worker was killed whole, say
    assert generate(client).status_code == 202
