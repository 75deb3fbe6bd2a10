"""Every body GET /v1/feed answers agrees with its declared schema, ``FeedOut``.

The feed is answered with hand-built JSON (no pydantic serialization on the hot path), so
nothing at run time checks it against the ``response_model`` its OpenAPI documents. Here each
state the endpoint answers (ready, with assets cached, expired and gate-rejected; missing, so
refreshing; degraded because Redis is down or does not answer), for each arm and outside any
experiment, on the fast path and on the routed path, is validated strictly against ``FeedOut``
(no field missing or extra, no coercion, and what each state means), and what the schema says
of exposures is checked in SQL.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from sqlalchemy import select

from recgen.api.schemas import FeedOut
from recgen.api.services.feed import FeedReader
from recgen.api.state import AppState
from recgen.generation.cache import RedisAssetCache
from recgen.store.db import session_scope
from recgen.store.models import ExposureRow
from recgen.store.repos.products import upsert_products
from tests.integration.api.conftest import PRODUCTS
from tests.support.feeds import put_feed, start_experiment, user_in, user_with_history

pytestmark = pytest.mark.integration
PATHS = ("fast", "routed")
WITH_PHOTO = 106


def get(api: TestClient, user: int, path: str) -> FeedOut:
    """The user's feed through one of the two paths, validated against the schema."""
    extra = "&utm=contract" if path == "routed" else ""  # not the plain form: FastAPI routes it
    response = api.get(f"/v1/feed/{user}?limit=4{extra}")
    assert response.status_code == 200, response.text
    return FeedOut.model_validate_json(response.content, strict=True)


def logged(state: AppState, feed: FeedOut) -> dict[str, str]:
    """exposure id -> content, as SQL has each of the feed's exposures."""
    ids = [item.exposure_id for item in feed.items]
    with session_scope(state.sessions) as session:
        rows = session.scalars(select(ExposureRow).where(ExposureRow.id.in_(ids)))
        return {row.id: row.content for row in rows}


def shown(feed: FeedOut) -> dict[str, str]:
    return {item.exposure_id: item.content for item in feed.items}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("arm", ["generated", "stock"])
def test_ready_feeds_match_the_schema(
    api: TestClient, state: AppState, cache: RedisAssetCache, arm: str, path: str
) -> None:
    experiment_id = start_experiment(api, f"contract-{arm}-{path}")
    user = user_in(state, arm)
    put_feed(cache, user)  # cached, expired and gate-rejected assets
    feed = get(api, user, path)
    assert (feed.state, feed.arm, feed.experiment_id) == ("ready", arm, experiment_id)
    contents = ["generated", "generated", "stock"] if arm == "generated" else ["stock"] * 3
    assert [item.content for item in feed.items] == contents
    state.drainer.drain_all()
    assert logged(state, feed) == shown(feed)


@pytest.mark.parametrize("path", PATHS)
def test_a_feed_outside_any_experiment_matches_the_schema(
    api: TestClient, cache: RedisAssetCache, path: str
) -> None:
    put_feed(cache, 31)
    feed = get(api, 31, path)
    assert (feed.state, feed.arm, feed.experiment_id) == ("ready", None, None)
    assert [item.content for item in feed.items] == ["generated", "generated", "stock"]


@pytest.mark.parametrize("path", PATHS)
def test_a_missing_feed_matches_the_schema(api: TestClient, state: AppState, path: str) -> None:
    user = user_with_history(state, PRODUCTS[0].product_id)
    claimed, waiting = get(api, user, path), get(api, user, path)  # the second finds the claim
    assert claimed.state == waiting.state == "refreshing"
    cold = get(api, 9_876_000 + len(path), path)  # never seen: the shared cold-start feed
    assert cold.state == "cold_start" and cold.items


@pytest.fixture()
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server accepts connections (the kernel's backlog) and never answers."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


@pytest.fixture()
def closed_redis() -> str:
    """A Redis URL nobody listens on (the port of a socket bound and closed again)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("redis_is", ["down", "silent"])
def test_degraded_feeds_match_the_schema(
    api: TestClient,
    state: AppState,
    closed_redis: str,
    silent_redis: str,
    redis_is: str,
    path: str,
) -> None:
    start_experiment(api, f"contract-degraded-{redis_is}-{path}")
    photo = replace(PRODUCTS[0], product_id=WITH_PHOTO, title="Photo", image_path="106.jpg")
    with session_scope(state.sessions) as session:
        upsert_products(session, products=[photo])
    user = user_in(state, "generated")
    state.recent.remember(user, (101, 102, WITH_PHOTO))
    url = closed_redis if redis_is == "down" else silent_redis
    client: aioredis.Redis[bytes] = aioredis.Redis.from_url(url, socket_timeout=None)
    state.feeds = FeedReader(client, prefix="unused", stream="unused", timeout=0.3)

    served, stranger = get(api, user, path), get(api, 33, path)
    assert served.state == stranger.state == "degraded"
    assert [item.product_id for item in served.items] == [101, 102, WITH_PHOTO]
    assert [item.image_source for item in served.items] == [None, None, "stock"]
    assert served.arm == "generated" and stranger.items
    # What the schema says of a degraded feed: its exposures are logged, straight to SQL.
    assert logged(state, served) == shown(served)
    assert logged(state, stranger) == shown(stranger)
