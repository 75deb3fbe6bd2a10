"""GET /v1/feed: arms, stock fallback with regeneration, exposure logging and draining."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from recgen.api.app import Overrides, create_app
from recgen.api.state import AppState
from recgen.catalog.ingest import load_descriptions
from recgen.core.config import Settings
from recgen.core.keys import COLD_START_USER
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import session_scope
from recgen.store.models import ExposureRow
from tests.integration.api.conftest import ADMIN_KEY, PRODUCTS
from tests.support.api import RecordingDispatcher
from tests.support.descriptions import DEO, write_lines
from tests.support.feeds import key, put_feed, start_experiment, user_in, user_with_history

pytestmark = pytest.mark.integration


def test_stock_text_is_the_loaded_description(
    api: TestClient, state: AppState, cache: RedisAssetCache, tmp_path: Path
) -> None:
    # A product loaded from descriptions.jsonl (a high id: the shared database's default
    # feed is its lowest ids) next to one that has only a title.
    line = {
        **DEO,
        "id": 990_001,
        "productDescriptors": {
            "description": "<p><strong>Style Note</strong><br />A fresh,&nbsp;woody fragrance"
            "<br /><strong>Caution</strong><br />Flammable</p>"
        },
    }
    load_descriptions(
        state.sessions, path=write_lines(tmp_path, line), images_dir=None, batch_size=10
    )
    start_experiment(api, "feed-stock-description")
    user = user_in(state, "stock")
    items = (StoredFeedItem(990_001, None, None, 3), StoredFeedItem(101, None, None, 3))
    cache.put_feed(
        StoredFeed(user_id=user, generated_at=time.time(), model_versions={}, items=items)
    )

    described, plain = api.get(f"/v1/feed/{user}").json()["items"]
    assert described["title"] == "Nike Men Blue Deodorant"
    assert (described["text"], described["text_source"]) == ("A fresh, woody fragrance.", "stock")
    assert plain["text"] == "Stock title 101"  # no description loaded: its title


def test_generated_arm_serves_cached_assets_and_falls_back_to_stock(
    api: TestClient, state: AppState, cache: RedisAssetCache, dispatcher: RecordingDispatcher
) -> None:
    experiment_id = start_experiment(api, "feed-generated")
    user = user_in(state, "generated")
    put_feed(cache, user)

    body = api.get(f"/v1/feed/{user}", params={"limit": 3}).json()
    assert (body["state"], body["arm"], body["experiment_id"]) == (
        "ready",
        "generated",
        experiment_id,
    )
    first, second, third = body["items"]
    assert first["content"] == "generated" and first["text_source"] == "generated"
    assert first["text"] == "A navy shirt for your Fall weekends."
    assert first["image_url"].startswith("/v1/assets/asset:image:v1:p101")
    # 102: the text expired, the image is there; 103: the gate said no, so stock both.
    assert second["text"] == "Stock title 102" and second["image_source"] == "generated"
    assert third == {**third, "content": "stock", "text": "Stock title 103", "image_url": None}
    assert dispatcher.named("generate") == [(user, [102], ["text", "image"])]

    # A second request within the lock period does not enqueue the same work again.
    again = api.get(f"/v1/feed/{user}", params={"limit": 3}).json()
    assert len(dispatcher.named("generate")) == 1
    assert {i["exposure_id"] for i in again["items"]}.isdisjoint(
        {i["exposure_id"] for i in body["items"]}
    )

    assert state.drainer.drain_all() == 6
    with session_scope(state.sessions) as session:
        # This experiment's rows: other tests of the shared database may show the same user.
        mine = select(ExposureRow).where(
            ExposureRow.user_id == user, ExposureRow.experiment_id == experiment_id
        )
        rows = {r.id: r for r in session.scalars(mine)}
    assert set(rows) == {i["exposure_id"] for i in body["items"] + again["items"]}
    logged = rows[first["exposure_id"]]
    assert (logged.experiment_id, logged.arm, logged.content) == (
        experiment_id,
        "generated",
        "generated",
    )
    assert logged.asset_key == f"{key('text', 101)} {key('image', 101)}"
    assert rows[third["exposure_id"]].content == "stock"


def test_fast_path_and_routed_endpoint_serve_the_same_feed(
    api: TestClient, state: AppState, cache: RedisAssetCache
) -> None:
    start_experiment(api, "feed-paths")
    user = user_in(state, "generated")
    put_feed(cache, user)
    fast = api.get(f"/v1/feed/{user}?limit=3")
    # An extra parameter is not the plain form: FastAPI's route answers (and ignores it).
    routed = api.get(f"/v1/feed/{user}?limit=3&utm=x")
    assert fast.status_code == routed.status_code == 200
    assert fast.headers["cache-control"] == routed.headers["cache-control"] == "no-store"

    def without_ids(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "items": [{**i, "exposure_id": None} for i in body["items"]]}

    assert without_ids(fast.json()) == without_ids(routed.json())
    assert [i["content"] for i in fast.json()["items"]] == ["generated", "generated", "stock"]
    assert state.drainer.drain_all() == 6
    metrics = api.get("/metrics").text
    assert (
        'recgen_http_request_duration_seconds_count{method="GET",route="/v1/feed/{user_id}",'
        'status="200"} 2.0' in metrics
    )


def test_stock_arm_never_reads_generated_assets(
    api: TestClient, state: AppState, cache: RedisAssetCache, dispatcher: RecordingDispatcher
) -> None:
    start_experiment(api, "feed-stock")
    user = user_in(state, "stock")
    put_feed(cache, user)
    items = api.get(f"/v1/feed/{user}").json()["items"]
    assert [i["content"] for i in items] == ["stock"] * 3
    assert all(i["text"] == f"Stock title {i['product_id']}" for i in items)
    assert dispatcher.named("generate") == []
    metrics = api.get("/metrics").text
    assert 'recgen_feed_items_total{content="stock"} 3.0' in metrics


def test_forced_user_gets_the_arm_but_stays_out_of_the_report(
    api: TestClient, state: AppState, cache: RedisAssetCache
) -> None:
    experiment_id = start_experiment(api, "feed-forced")
    user = user_in(state, "stock")
    put_feed(cache, user)
    forced = api.put(f"/v1/experiments/{experiment_id}/overrides/{user}", json={"arm": "generated"})
    assert forced.json() == {
        "experiment_id": experiment_id,
        "user_id": user,
        "arm": "generated",
        "forced": True,
    }
    body = api.get(f"/v1/feed/{user}").json()
    assert body["arm"] == "generated" and body["items"][0]["content"] == "generated"
    state.drainer.drain_all()
    with session_scope(state.sessions) as session:
        row = session.get(ExposureRow, body["items"][0]["exposure_id"])
        assert row is not None and row.experiment_id is None and row.arm == "generated"


def test_missing_feed_enqueues_one_refresh_and_answers_at_once(
    api: TestClient, state: AppState, dispatcher: RecordingDispatcher
) -> None:
    # A user with stored history: their own feed is worth a refresh (one per lock period).
    user = user_with_history(state, PRODUCTS[0].product_id)
    for _ in range(3):
        body = api.get(f"/v1/feed/{user}")
        assert body.status_code == 200
        assert body.json()["state"] == "refreshing" and body.json()["items"] == []
    assert dispatcher.named("refresh") == [user]


def test_unknown_user_gets_the_cold_start_feed_and_queues_nothing_for_itself(
    api: TestClient, dispatcher: RecordingDispatcher
) -> None:
    body = api.get("/v1/feed/9876543").json()
    assert body["state"] == "cold_start" and body["items"]
    # The shared feed is not made yet: stock, and at most its one shared refresh queued.
    assert {item["content"] for item in body["items"]} == {"stock"}
    assert [call for call in dispatcher.calls if call != ("refresh", COLD_START_USER)] == []


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/v1/feed/0", "path.user_id"),
        ("/v1/feed/7?limit=1000", "query.limit"),
        ("/v1/feed/abc", "path.user_id"),
    ],
)
def test_bad_feed_requests_say_what_was_wrong(api: TestClient, path: str, loc: str) -> None:
    response = api.get(path)
    assert response.status_code == 422
    assert loc in [d["loc"] for d in response.json()["error"]["details"]]


def test_assets_have_etags_and_revalidate(api: TestClient, cache: RedisAssetCache) -> None:
    cache.put_many({key("image", 104): b"\x89PNG 104", key("text", 104): b"hello"})
    image = api.get(f"/v1/assets/{key('image', 104)}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == b"\x89PNG 104"
    cached = api.get(
        f"/v1/assets/{key('image', 104)}", headers={"If-None-Match": image.headers["etag"]}
    )
    assert cached.status_code == 304
    assert api.get(f"/v1/assets/{key('text', 104)}").text == "hello"
    missing = api.get(f"/v1/assets/{key('text', 105)}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_prefix_written_with_its_colon_names_the_keys_the_cache_wrote(
    settings: Settings, dispatcher: RecordingDispatcher
) -> None:
    tenant = settings.model_copy(update={"cache_prefix": settings.cache_prefix + ":"})
    conn: redis.Redis[bytes] = redis.Redis.from_url(tenant.redis_url)
    cache = RedisAssetCache(conn, tenant.cache_prefix, ttl=60, jitter=0.0)
    cache.put_many({key("text", 104): b"hello"})
    app = create_app(tenant, Overrides(dispatcher=dispatcher))  # type: ignore[arg-type]
    try:
        with TestClient(app, headers={"X-API-Key": ADMIN_KEY}) as client:
            assert client.get(f"/v1/assets/{key('text', 104)}").text == "hello"
    finally:
        cache.purge()
        conn.close()
