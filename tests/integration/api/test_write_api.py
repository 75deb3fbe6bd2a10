"""Auth, events, generation, experiments and their report, limits, health, OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from recgen.api.state import AppState
from recgen.store.db import session_scope
from recgen.store.models import UserRow
from recgen.store.repos.api_keys import create_api_key, revoke_api_key
from recgen.store.repos.interactions import add_interactions
from tests.support.api import RecordingDispatcher
from tests.support.worker_world import AMQP_TEST_URL

pytestmark = pytest.mark.integration


def make_key(state: AppState, name: str, scopes: list[str]) -> str:
    with session_scope(state.sessions) as session:
        _row, key = create_api_key(session, name=name, scopes=scopes)
    return key


def test_every_write_and_admin_endpoint_needs_a_key(api: TestClient) -> None:
    calls = [
        ("post", "/v1/generate", {"user_id": 1, "product_ids": [101]}),
        ("post", "/v1/events", {"events": []}),
        ("post", "/v1/experiments", {"name": "x"}),
        ("get", "/v1/experiments/1/report", None),
        ("get", "/v1/feed/1", None),
        ("get", "/v1/tasks/abc", None),
    ]
    for method, path, body in calls:
        response = api.request(method, path, json=body, headers={"X-API-Key": ""})
        assert response.status_code == 401, path
        assert response.json()["error"]["details"][0]["loc"] == "header.X-API-Key"
    wrong = api.get("/v1/feed/1", headers={"X-API-Key": "rg_nope"})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.json()["error"]["message"]


def test_scopes_and_revocation(api: TestClient, state: AppState) -> None:
    recommender = make_key(state, "reco-scopes", ["recommender"])
    headers = {"X-API-Key": recommender}
    assert api.get("/v1/feed/9", headers=headers).status_code == 200
    denied = api.post("/v1/experiments", json={"name": "nope"}, headers=headers)
    assert denied.status_code == 403 and "admin" in denied.json()["error"]["message"]
    bearer = api.get(
        "/v1/feed/9", headers={"Authorization": f"Bearer {recommender}", "X-API-Key": ""}
    )
    assert bearer.status_code == 200
    with session_scope(state.sessions) as session:
        assert revoke_api_key(session, name="reco-scopes")
    state.keys.forget()  # what api_key_cache_seconds does by itself
    assert api.get("/v1/feed/9", headers=headers).status_code == 401


def test_bad_event_batch_is_refused_whole_and_writes_nothing(
    api: TestClient, state: AppState, dispatcher: RecordingDispatcher
) -> None:
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    batch = {
        "events": [
            {"event_id": "ev-a", "user_id": 90001, "product_id": 101, "kind": "click"},
            {"event_id": "ev-b", "user_id": 90001, "product_id": 999999, "kind": "click"},
            {
                "event_id": "ev-c",
                "user_id": 90001,
                "product_id": 101,
                "kind": "view",
                "occurred_at": future,
            },
            {"event_id": "ev-d", "user_id": 90001, "product_id": 101, "kind": "like"},
        ]
    }
    response = api.post("/v1/events", json=batch)
    assert response.status_code == 422
    assert "body.events.3.kind" in [d["loc"] for d in response.json()["error"]["details"]]
    response = api.post("/v1/events", json={"events": batch["events"][:3]})
    locs = [d["loc"] for d in response.json()["error"]["details"]]
    assert response.status_code == 422
    assert locs == ["body.events.2.occurred_at", "body.events.1.product_id"]
    with session_scope(state.sessions) as session:
        assert session.get(UserRow, 90001) is None
    assert dispatcher.named("events") == []


def test_events_are_accepted_users_created_and_forwarded(
    api: TestClient, state: AppState, dispatcher: RecordingDispatcher
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    batch = {
        "events": [
            {
                "event_id": "ev-1",
                "user_id": 90002,
                "product_id": 101,
                "kind": "view",
                "exposure_id": "abc-1",
            },
            {
                "event_id": "ev-2",
                "user_id": 90002,
                "product_id": 101,
                "kind": "click",
                "exposure_id": "abc-1",
                # Within the accepted window (30 days back), whenever the test runs.
                "occurred_at": yesterday.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        ]
    }
    response = api.post("/v1/events", json=batch)
    assert response.status_code == 202
    task_id = response.json()["task_id"]  # the API's, counted and owned before it is queued
    assert response.json() == {"accepted": 2, "new": 2, "duplicates": 0, "task_id": task_id}
    assert api.get(f"/v1/tasks/{task_id}").status_code == 200
    (forwarded,) = dispatcher.named("events")
    assert [e["exposure_id"] for e in forwarded] == ["abc-1", "abc-1"]
    assert forwarded[1]["occurred_at"] == yesterday.isoformat()
    with session_scope(state.sessions) as session:
        assert session.get(UserRow, 90002) is not None


def test_limits_on_batch_and_body_size(api: TestClient) -> None:
    event = {"event_id": "x", "user_id": 1, "product_id": 101, "kind": "view"}
    too_many = api.post("/v1/events", json={"events": [event] * 51})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["details"][0]["loc"] == "body.events"
    huge = api.post(
        "/v1/events",
        content=b'{"events": [' + b" " * 30_000 + b"]}",
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


def test_generate_honours_idempotency_key(api: TestClient, dispatcher: RecordingDispatcher) -> None:
    body = {"user_id": 7, "product_ids": [101, 102], "kinds": ["text"]}
    first = api.post("/v1/generate", json=body, headers={"Idempotency-Key": "k-1"})
    task_id = first.json()["task_id"]
    assert first.status_code == 202 and first.json()["status_url"] == f"/v1/tasks/{task_id}"
    again = api.post("/v1/generate", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 202 and again.json() == first.json()
    assert dispatcher.named("generate") == [(7, [101, 102], ["text"])]
    other = api.post(
        "/v1/generate", json={**body, "user_id": 8}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    unknown = api.post("/v1/generate", json={"user_id": 7, "product_ids": [101, 424242]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["loc"] == "body.product_ids.1"
    assert len(dispatcher.calls) == 1


def test_task_status_lists_asset_keys(api: TestClient, dispatcher: RecordingDispatcher) -> None:
    # Only a task this key submitted is readable, so submit one first.
    task_id = api.post("/v1/generate", json={"user_id": 7, "product_ids": [101]}).json()["task_id"]
    dispatcher.statuses[task_id] = (
        "SUCCESS",
        {"items": [{"product_id": 101, "text_key": "asset:text:v1:p101:s3", "image_key": None}]},
    )
    body = api.get(f"/v1/tasks/{task_id}").json()
    assert body["state"] == "SUCCESS" and body["asset_keys"] == ["asset:text:v1:p101:s3"]
    assert body["asset_urls"][0].startswith("/v1/assets/asset:text:v1:p101:s3?t=")
    assert api.get("/v1/tasks/unknown").status_code == 404


def test_experiment_lifecycle_and_report(api: TestClient, state: AppState) -> None:
    bad = api.post("/v1/experiments", json={"name": "bad", "arms": {"stock": 1, "fancy": 1}})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == "body.arms"
    # A fixed salt: with a random one, 1 run in ~1,500 splits these 40 users 9/31 or worse and
    # the SRM check rightly flags it (seen once in CI).
    created = api.post(
        "/v1/experiments", json={"name": "life", "traffic_share": 1.0, "salt": "life-test"}
    ).json()
    eid = created["id"]
    assert created["status"] == "draft" and created["arms"] == {"generated": 0.5, "stock": 0.5}
    assert api.post("/v1/experiments", json={"name": "life"}).status_code == 409
    assert api.post(f"/v1/experiments/{eid}/stop").status_code == 409
    assert api.post(f"/v1/experiments/{eid}/start").json()["status"] == "running"
    other = api.post("/v1/experiments", json={"name": "life-2"}).json()["id"]
    assert api.post(f"/v1/experiments/{other}/start").status_code == 409
    assert api.get("/v1/experiments/99999").status_code == 404

    # Serve feeds to 40 users (no feeds cached: nothing to log), then log outcomes by hand
    # through the exposure path: one exposure per user via the drain, clicks for some.
    users = list(range(3000, 3040))
    arms = {u: api.get(f"/v1/experiments/{eid}/assignments/{u}").json()["arm"] for u in users}
    assert set(arms.values()) == {"generated", "stock"}
    from recgen.generation.cache import StoredFeed, StoredFeedItem

    for u in users:
        state.cache.put_feed(StoredFeed(u, 0.0, {"text": "v1"}, (StoredFeedItem(101, None, None),)))
    served = {u: api.get(f"/v1/feed/{u}").json()["items"][0]["exposure_id"] for u in users}
    state.drainer.drain_all()
    with session_scope(state.sessions) as session:
        session.add_all([UserRow(id=u, signup_preferences={}) for u in users])
        session.flush()
        add_interactions(
            session,
            events=[
                {
                    "event_id": f"c-{u}",
                    "user_id": u,
                    "product_id": 101,
                    "kind": "click",
                    "exposure_id": served[u],
                }
                for u in users[::2]
            ],
        )
    report = api.get(f"/v1/experiments/{eid}/report").json()
    total = sum(report["arms"][a]["users"] for a in ("generated", "stock"))
    assert total == 40 and report["arms"]["stock"]["users"] == list(arms.values()).count("stock")
    assert sum(report["arms"][a]["click"] for a in ("generated", "stock")) == 20
    assert {"lift", "ci_low", "ci_high", "p_value"} <= set(
        report["comparisons"]["generated"]["ctr"]
    )
    assert report["srm"]["flagged"] is False
    assert api.post(f"/v1/experiments/{eid}/stop").json()["status"] == "stopped"
    assert state.experiments.current is None
    listed = api.get("/v1/experiments").json()
    assert {e["name"] for e in listed} >= {"life", "life-2"}
    with session_scope(state.sessions) as session:
        session.execute(select(UserRow.id).where(UserRow.id.in_(users)))


def test_health_metrics_and_openapi(api: TestClient) -> None:
    assert api.get("/health/live").json() == {"status": "ok"}
    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"database", "redis", "broker"}
    api.get("/v1/feed/1")
    metrics = api.get("/metrics").text
    assert (
        'recgen_http_request_duration_seconds_count{method="GET",route="/v1/feed/{user_id}"'
        in metrics
    )
    schema = api.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert paths["/v1/feed/{user_id}"]["get"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in paths["/health/ready"]["get"]
    assert {
        "/v1/feed/{user_id}",
        "/v1/generate",
        "/v1/events",
        "/v1/experiments",
        "/v1/experiments/{experiment_id}/report",
        "/v1/tasks/{task_id}",
    } <= set(paths)


def test_readiness_reports_a_dead_dependency(api: TestClient, state: AppState) -> None:
    state.settings = state.settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    ready = api.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"]["ok"] is False
    assert ready.json()["checks"]["database"]["ok"] is True


def test_readiness_pings_a_rabbitmq_broker(api: TestClient, state: AppState) -> None:
    state.settings = state.settings.model_copy(update={"broker_url": AMQP_TEST_URL})
    ready = api.get("/health/ready")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"]["broker"]["ok"] is True
