"""Tenants kept apart on the running system: a task is readable only by the API key that
submitted it, a failed task says what failed, not the worker's exception, and an asset is
served only by the signed URL the API handed out (or to an API key), never to a guessed key.

Real API (the app on the real Celery client), a real worker process, Redis and PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from harness.world import KEYS, PRODUCTS, headers, seed
from recgen.api.app import create_app
from recgen.core import keys
from recgen.generation.cache import StoredFeed, StoredFeedItem
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.api_keys import create_api_key
from tests.support.worker_world import WorkerWorld, worker_world

USER = 41
POISON_EVENT = "poison-event-1"
# What the database says when the poisoned insert fails; it must never reach an API client.
INTERNAL_DETAIL = "internal-detail-10.1.2.3"
POLL_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerWorld]:
    with worker_world(tmp_path_factory.mktemp("tenants"), users=[USER]) as built:
        seed(built.db_url)
        engine = make_engine(built.db_url)
        with engine.begin() as conn:
            # One event id makes the worker's insert fail with a non-transient database
            # error whose text names an internal address, as a real constraint or trigger might.
            conn.execute(text(f"""
                CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN
                  IF NEW.event_id = '{POISON_EVENT}' THEN
                    RAISE EXCEPTION '{INTERNAL_DETAIL}';
                  END IF; RETURN NEW; END $$ LANGUAGE plpgsql"""))
            conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON interactions "
                              "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"))
        engine.dispose()
        yield built


@pytest.fixture(scope="module")
def other_backend_key(world: WorkerWorld) -> str:
    with session_scope(session_factory(make_engine(world.db_url))) as session:
        _row, key = create_api_key(session, name="rel-backend-other", scopes=["backend"])
    return key


def _finished(client: TestClient, task_id: str, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        response = client.get(f"/v1/tasks/{task_id}", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] in ("SUCCESS", "FAILURE"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} not finished after {POLL_TIMEOUT_S}s")


def test_tasks_are_readable_only_by_their_submitter_and_failures_hide_internals(
    world: WorkerWorld, other_backend_key: str
) -> None:
    mine = KEYS["backend"]
    with TestClient(create_app(world.settings)) as client, world.worker("tenants.log"):
        submitted = client.post(
            "/v1/generate", headers={"X-API-Key": mine},
            json={"user_id": USER, "product_ids": [PRODUCTS[0].product_id], "kinds": ["text"]},
        )
        assert submitted.status_code == 202, submitted.text
        task_id = submitted.json()["task_id"]
        done = _finished(client, task_id, mine)
        assert done["state"] == "SUCCESS" and done["asset_keys"]

        # Another tenant's key learns nothing: not the user, not the asset keys, not the state.
        stolen = client.get(f"/v1/tasks/{task_id}", headers={"X-API-Key": other_backend_key})
        assert stolen.status_code == 404, stolen.text
        assert str(USER) not in stolen.text.replace(task_id, "")
        assert not any(k in stolen.text for k in done["asset_keys"])
        # An id nobody submitted is a 404 too, not an eternal PENDING.
        unknown = client.get(f"/v1/tasks/{uuid.uuid4()}", headers={"X-API-Key": mine})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["details"][0]["loc"] == "path.task_id"

        posted = client.post("/v1/events", headers={"X-API-Key": mine}, json={"events": [
            {"event_id": POISON_EVENT, "user_id": USER,
             "product_id": PRODUCTS[1].product_id, "kind": "click"}]})
        assert posted.status_code == 202, posted.text
        events_task = posted.json()["task_id"]
        failed = _finished(client, events_task, mine)
        assert failed["state"] == "FAILURE"
        # It says which work failed and what to do, and nothing of the worker's exception.
        assert "recording the events failed" in failed["result"]
        assert INTERNAL_DETAIL not in failed["result"] and "Error" not in failed["result"]
        assert client.get(f"/v1/tasks/{events_task}",
                          headers={"X-API-Key": other_backend_key}).status_code == 404


def test_asset_urls_are_signed_and_guessed_keys_are_refused(world: WorkerWorld) -> None:
    # What a worker writes for user 42: a feed with a generated image made for persona 7.
    product = PRODUCTS[2].product_id
    image = keys.asset_key("image", product, model_version="v9", persona_id=7)
    world.cache.put_many({image: b"\x89PNG user 42's image"})
    world.cache.put_feed(StoredFeed(
        user_id=42, generated_at=time.time(), model_versions={"image": "v9"},
        items=(StoredFeedItem(product_id=product, text_key=None, image_key=image),)))
    with TestClient(create_app(world.settings)) as client:
        feed = client.get("/v1/feed/42", headers=headers("recommender"))
        assert feed.status_code == 200, feed.text
        url = feed.json()["items"][0]["image_url"]
        assert "?t=" in url
        # The browser loads the handed-out URL without any key.
        assert client.get(url).content == b"\x89PNG user 42's image"

        # Anyone else can build the key from the public model version and a persona id
        # (0-31), but not the token: a bare key and a forged token are both refused.
        guessed = f"/v1/assets/{keys.asset_key('image', product, model_version='v9', persona_id=7)}"
        bare = client.get(guessed)
        assert bare.status_code == 403, bare.status_code
        assert bare.json()["error"]["details"][0]["loc"] == "query.t"
        assert client.get(guessed + "?t=" + "0" * 32).status_code == 403
        # A server-side caller with an API key may fetch it without the token.
        assert client.get(guessed, headers=headers("backend")).status_code == 200
