"""Security: API-key scopes on every endpoint, hashed keys, rate and size limits, no pickle."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from harness.world import KEYS, PRODUCTS, api_settings, purged, seeded_database
from recgen.api.app import Overrides, create_app
from recgen.core.config import PROJECT_ROOT, Settings
from recgen.runtime.celery_config import celery_config, make_celery_client
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import ApiKeyRow
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL
from tests.support.api import RecordingDispatcher

P = PRODUCTS[0].product_id
# Every route of the API and the scopes that may call it (admin may call everything).
# Asset and stock-image GETs are public on purpose: their URLs are handed to browsers.
WRITE_OR_ADMIN: dict[tuple[str, str], tuple[set[str], str, object]] = {
    ("GET", "/v1/feed/{user_id}"): ({"recommender", "backend"}, "/v1/feed/5", None),
    ("POST", "/v1/generate"): ({"backend"}, "/v1/generate",
                               {"user_id": 5, "product_ids": [P]}),
    ("GET", "/v1/tasks/{task_id}"): ({"backend"}, "/v1/tasks/abc", None),
    ("POST", "/v1/events"): ({"backend", "recommender"}, "/v1/events", {"events": [
        {"event_id": "sec-1", "user_id": 5, "product_id": P, "kind": "view"}]}),
    ("GET", "/v1/experiments"): (set(), "/v1/experiments", None),
    ("POST", "/v1/experiments"): (set(), "/v1/experiments", {"name": "sec"}),
    ("GET", "/v1/experiments/{experiment_id}"): (set(), "/v1/experiments/1", None),
    ("POST", "/v1/experiments/{experiment_id}/start"): (set(), "/v1/experiments/1/start", None),
    ("POST", "/v1/experiments/{experiment_id}/stop"): (set(), "/v1/experiments/1/stop", None),
    ("PUT", "/v1/experiments/{experiment_id}/overrides/{user_id}"): (
        set(), "/v1/experiments/1/overrides/5", {"arm": "stock"}),
    ("GET", "/v1/experiments/{experiment_id}/assignments/{user_id}"): (
        set(), "/v1/experiments/1/assignments/5", None),
    ("GET", "/v1/experiments/{experiment_id}/report"): (set(), "/v1/experiments/1/report", None),
    # The dashboard's data: profiles, feeds and experiment results, so admin only.
    ("GET", "/v1/dashboard/users"): (set(), "/v1/dashboard/users", None),
    ("GET", "/v1/dashboard/users/{user_id}"): (set(), "/v1/dashboard/users/5", None),
    ("GET", "/v1/dashboard/users/{user_id}/feed"): (set(), "/v1/dashboard/users/5/feed", None),
    ("GET", "/v1/dashboard/experiments"): (set(), "/v1/dashboard/experiments", None),
    ("GET", "/v1/dashboard/stats"): (set(), "/v1/dashboard/stats", None),
}
PUBLIC = {("GET", "/v1/assets/{key}"), ("GET", "/v1/products/{product_id}/image"),
          ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics")}


@pytest.fixture(scope="module")
def secured() -> Iterator[tuple[FastAPI, str, RecordingDispatcher]]:
    with seeded_database(PG_ADMIN_URL) as db_url:
        prefix = "rel-sec-" + db_url.rsplit("_", 1)[1]
        settings = api_settings(db_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                                redis_url=REDIS_TEST_URL, api_generate_per_minute=5)
        dispatcher = RecordingDispatcher()
        app = create_app(settings, Overrides(dispatcher=dispatcher))  # type: ignore[arg-type]
        with purged(settings.redis_url, prefix):
            yield app, db_url, dispatcher


def test_every_route_is_classified(secured: tuple[FastAPI, str, RecordingDispatcher]) -> None:
    app, _, _ = secured
    routes = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    assert routes == set(WRITE_OR_ADMIN) | PUBLIC


@pytest.mark.parametrize("route", sorted(WRITE_OR_ADMIN))
def test_key_missing_wrong_or_under_scoped_is_refused(
    secured: tuple[FastAPI, str, RecordingDispatcher], route: tuple[str, str]
) -> None:
    app, _, dispatcher = secured
    allowed, path, body = WRITE_OR_ADMIN[route]
    method = route[0]
    enqueued = len(dispatcher.calls)
    with TestClient(app) as client:
        def call(key: str | None) -> int:
            sent = {"X-API-Key": key} if key is not None else {}
            return client.request(method, path, json=body, headers=sent).status_code

        assert call(None) == 401
        assert call("rg_wrong_" + KEYS["admin"][-8:]) == 401
        client.headers["Authorization"] = "Bearer not-a-key"
        assert client.request(method, path, json=body).status_code == 401
        del client.headers["Authorization"]
        for scope in ("backend", "recommender"):
            status = call(KEYS[scope])
            if scope in allowed:
                assert status not in (401, 403), (scope, status)
            else:
                assert status == 403, (scope, status)
        assert call(KEYS["admin"]) not in (401, 403)
    calls_by_refused = len(dispatcher.calls) - enqueued
    # Only the allowed calls (at most one per allowed scope plus admin) may have enqueued.
    assert calls_by_refused <= len(allowed) + 1


def test_keys_are_stored_hashed(secured: tuple[FastAPI, str, RecordingDispatcher]) -> None:
    _, db_url, _ = secured
    with session_scope(session_factory(make_engine(db_url))) as session:
        rows = list(session.scalars(select(ApiKeyRow)))
    stored = " ".join(f"{r.name} {r.key_hash}" for r in rows)
    assert rows and all(re.fullmatch(r"[0-9a-f]{64}", r.key_hash) for r in rows)
    assert not any(key in stored for key in KEYS.values())


def test_generation_is_rate_limited_per_key(
    secured: tuple[FastAPI, str, RecordingDispatcher],
) -> None:
    app, _, dispatcher = secured
    body = {"user_id": 9, "product_ids": [P]}
    with TestClient(app) as client:
        statuses = [client.post("/v1/generate", json=body, headers={"X-API-Key": KEYS["backend"]})
                    for _ in range(8)]
        other = client.post("/v1/generate", json=body, headers={"X-API-Key": KEYS["admin"]})
    codes = [r.status_code for r in statuses]
    # The matrix test above may have spent part of this minute's budget of 5.
    assert 429 in codes and codes.count(202) <= 5
    limited = next(r for r in statuses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert other.status_code in (202, 429)  # another key has its own budget
    assert other.status_code == 202 or codes.count(202) == 0
    assert sum(1 for name, _ in dispatcher.calls if name == "generate") >= codes.count(202)


def test_celery_speaks_json_only() -> None:
    settings = Settings()
    config = celery_config(settings)
    assert config["accept_content"] == ["json"] and config["task_serializer"] == "json"
    assert config["result_accept_content"] == ["json"] and config["result_serializer"] == "json"
    client = make_celery_client(settings)
    assert client.conf.accept_content == ["json"]


SOURCE_DIRS = ("recgen", "workers", "migrations")
FORBIDDEN = re.compile(
    r"^\s*(import pickle|from pickle|import dill|import cloudpickle|.*torch\.load\(|"
    r".*allow_pickle=True|.*pickle\.loads?\()"
)


def test_no_pickle_in_the_code_that_reads_untrusted_data() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for directory in SOURCE_DIRS
        for path in sorted((PROJECT_ROOT / directory).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.match(line)
    ]
    assert offenders == []
    weights = [p for p in Path(PROJECT_ROOT / "recgen").rglob("*")
               if p.suffix in (".pt", ".pth", ".bin", ".pkl", ".pickle")]
    assert weights == [], "model files must be safetensors"
