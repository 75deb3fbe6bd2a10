"""A cached feed with every kind of item, and experiments, for the feed API's tests."""

from __future__ import annotations

import time
import uuid

from fastapi.testclient import TestClient

from recgen.api.state import AppState
from recgen.core.keys import asset_key
from recgen.core.types import GateResult
from recgen.experiments.assignment import assign
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import session_scope
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.users import upsert_users


def user_with_history(state: AppState, product_id: int) -> int:
    """A new user id with one stored view: a user whose missing feed is worth a refresh
    (one without history is served the shared cold-start feed)."""
    user = 5_000_000 + uuid.uuid4().int % 1_000_000  # the test database outlives a test
    with session_scope(state.sessions) as session:
        upsert_users(session, users=[{"id": user}])
        viewed = {"user_id": user, "product_id": product_id, "kind": "view"}
        add_interactions(session, events=[viewed])
    return user


def key(kind: str, pid: int) -> str:
    return asset_key(kind, pid, model_version="v1", persona_id=3)  # type: ignore[arg-type]


def put_feed(cache: RedisAssetCache, user_id: int) -> None:
    """101: both assets cached; 102: text key listed but expired; 103: gate rejected both."""
    cache.put_many(
        {
            key("text", 101): b"A navy shirt for your Fall weekends.",
            key("image", 101): b"\x89PNG fake",
            key("image", 102): b"\x89PNG 102",
        }
    )
    rejected = GateResult(False, ("off-category",))
    cache.put_feed(
        StoredFeed(
            user_id=user_id,
            generated_at=time.time(),
            model_versions={"text": "v1", "image": "v1"},
            items=(
                StoredFeedItem(101, key("text", 101), key("image", 101), 3),
                StoredFeedItem(102, key("text", 102), key("image", 102), 3),
                StoredFeedItem(103, None, None, 3, rejected, rejected),
            ),
        )
    )


def start_experiment(api: TestClient, name: str) -> int:
    created = api.post("/v1/experiments", json={"name": name})
    assert created.status_code == 201, created.text
    experiment_id = int(created.json()["id"])
    assert api.post(f"/v1/experiments/{experiment_id}/start").status_code == 200
    return experiment_id


def user_in(state: AppState, arm: str) -> int:
    config = state.experiments.current
    assert config is not None
    return next(u for u in range(1000, 2000) if assign(config, u) == arm)
