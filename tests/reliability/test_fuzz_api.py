"""Property-based and fuzz tests of every endpoint: schemathesis against the OpenAPI spec, and
hand-picked hostile inputs. Only 2xx/4xx with a JSON error body, never 5xx, and nothing written
(SQL rows, enqueued tasks) for a refused request."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import strategies as st
from sqlalchemy import Engine

from harness.world import PRODUCTS, api_settings, headers, purged, seeded_database
from recgen.api.app import Overrides, create_app
from recgen.store.db import make_engine
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL
from tests.support.api import RecordingDispatcher
from tests.support.world import row_counts

EXAMPLES_PER_OPERATION = 25
CASES: Counter[str] = Counter()


class Fuzzed:
    def __init__(self, app: FastAPI, engine: Engine, dispatcher: RecordingDispatcher) -> None:
        self.app, self.engine, self.dispatcher = app, engine, dispatcher

    def check(self, label: str, status: int, body: bytes, before: dict[str, int],
              enqueued_before: int) -> None:
        CASES[label] += 1
        assert status < 500, f"{label}: {status} {body[:300]!r}"
        if 400 <= status < 500:
            error = json.loads(body)["error"]
            assert error["code"] and error["message"], body
            assert row_counts(self.engine) == before, f"{label}: refused ({status}) but wrote"
            assert len(self.dispatcher.calls) == enqueued_before, f"{label}: refused but enqueued"


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    with seeded_database(PG_ADMIN_URL) as db_url:
        prefix = "rel-fuzz-" + db_url.rsplit("_", 1)[1]
        # No background drain: it stores earlier feeds' exposures (cold-start feeds log them)
        # at any moment, and a change of the row counts must be the checked request's own.
        settings = api_settings(db_url, REDIS_TEST_URL.rsplit("/", 1)[0], prefix,
                                redis_url=REDIS_TEST_URL, api_max_body_bytes=65_536,
                                api_max_events_per_batch=100, exposure_drain_in_api=False)
        dispatcher = RecordingDispatcher()
        app = create_app(settings, Overrides(dispatcher=dispatcher))  # type: ignore[arg-type]
        engine = make_engine(db_url)
        try:
            with purged(settings.redis_url, prefix), TestClient(app):  # lifespan runs
                yield Fuzzed(app, engine, dispatcher)
        finally:
            engine.dispose()  # before the database is dropped
    total = sum(CASES.values())
    print(f"\nfuzz: {total} cases over {len(CASES)} operations: {dict(sorted(CASES.items()))}")


# schemathesis.pytest.from_fixture does not work with pytest 9 (it sets Function._nodeid),
# so each operation's strategy is driven by hypothesis directly.
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def test_schemathesis_no_5xx_and_refusals_write_nothing(fuzzed: Fuzzed) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @FUZZ_SETTINGS
        @hypothesis.given(case=operation.as_strategy())
        def run(case: Any) -> None:
            before, enqueued = row_counts(fuzzed.engine), len(fuzzed.dispatcher.calls)
            response = case.call(headers={**(case.headers or {}), **headers()})
            fuzzed.check(
                case.operation.label, response.status_code, response.content, before, enqueued
            )

        run()
    assert all(CASES[op.label] >= 1 for op in operations)


HOSTILE_STRINGS = [
    "'; DROP TABLE interactions; --",
    "\" OR 1=1 --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\u0000nul",
    "\ud7ff\ue000\U0010ffff",
    "ﷺ" * 40,
    "%s%n%x",
    "${jndi:ldap://x}",
]


def _event(**overrides: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "user_id": 5, "product_id": PRODUCTS[0].product_id,
            "kind": "view", **overrides}


HOSTILE_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/feed/-1", None),
    ("GET", "/v1/feed/0", None),
    ("GET", "/v1/feed/99999999999999999999999", None),
    ("GET", "/v1/feed/abc", None),
    ("GET", "/v1/feed/5?limit=-3", None),
    ("GET", "/v1/feed/5?limit=100000", None),
    ("POST", "/v1/events", {"events": []}),
    ("POST", "/v1/events", {"events": [_event(product_id=1)]}),  # unknown product
    ("POST", "/v1/events", {"events": [_event(), _event(user_id="5")]}),
    ("POST", "/v1/events", {"events": [_event(kind="refund")]}),
    ("POST", "/v1/events", {"events": [_event(occurred_at="2999-01-01T00:00:00Z")]}),
    ("POST", "/v1/events", {"events": [_event(event_id="x" * 65)]}),
    ("POST", "/v1/events", {"events": [_event(extra=1)]}),
    ("POST", "/v1/events", {"events": [_event(event_id=f"e{i}") for i in range(101)]}),
    ("POST", "/v1/events", [_event()]),
    ("POST", "/v1/generate", {"user_id": 5, "product_ids": []}),
    ("POST", "/v1/generate", {"user_id": 5, "product_ids": list(range(1, 102))}),
    ("POST", "/v1/generate", {"user_id": 5, "product_ids": [1]}),
    ("POST", "/v1/generate", {"user_id": -5, "product_ids": [PRODUCTS[0].product_id]}),
    ("POST", "/v1/generate", {"user_id": 5, "product_ids": [PRODUCTS[0].product_id],
                              "kinds": ["video"]}),
    ("GET", "/v1/tasks/" + "a" * 65, None),
    ("GET", "/v1/tasks/..%2F..%2Fetc", None),
    ("GET", "/v1/assets/asset:text:%00", None),
    ("POST", "/v1/experiments", {"name": "bad name with spaces"}),
    ("POST", "/v1/experiments", {"name": "x", "traffic_share": -1}),
    ("POST", "/v1/experiments", {"name": "x", "arms": {"stock": -1, "generated": 2}}),
    ("POST", "/v1/experiments/999999/start", None),
] + [("POST", "/v1/events", {"events": [_event(event_id=s)]}) for s in HOSTILE_STRINGS] + [
    ("POST", "/v1/experiments", {"name": s}) for s in HOSTILE_STRINGS
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE_REQUESTS)
def test_hostile_requests_get_a_clear_4xx_or_a_clean_success(
    fuzzed: Fuzzed, method: str, path: str, body: Any
) -> None:
    before, enqueued = row_counts(fuzzed.engine), len(fuzzed.dispatcher.calls)
    with TestClient(fuzzed.app, headers=headers()) as client:
        response = client.request(method, path, json=body)
    fuzzed.check(f"hostile {method} {path[:30]}", response.status_code, response.content,
                 before, enqueued)


def test_huge_and_malformed_bodies_are_refused_before_parsing(fuzzed: Fuzzed) -> None:
    before, enqueued = row_counts(fuzzed.engine), len(fuzzed.dispatcher.calls)
    with TestClient(fuzzed.app, headers=headers()) as client:
        huge = client.post("/v1/events", content=b"{" + b" " * 70_000 + b"}",
                           headers={"Content-Type": "application/json"})
        chunked = client.post("/v1/events", content=iter([b"[" * 40_000] * 2),
                              headers={"Content-Type": "application/json"})
        broken = client.post("/v1/events", content=b'{"events": [',
                             headers={"Content-Type": "application/json"})
        deep = client.post("/v1/events", content=b"[" * 10_000 + b"]" * 10_000,
                           headers={"Content-Type": "application/json"})
    assert [huge.status_code, chunked.status_code] == [413, 413]
    assert broken.status_code == 422 and deep.status_code in (400, 413, 422)
    for response in (huge, chunked, broken, deep):
        fuzzed.check("malformed body", response.status_code, response.content, before, enqueued)


@hypothesis.settings(max_examples=40, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))
@hypothesis.given(
    event_id=st.text(min_size=1, max_size=64),
    exposure_id=st.one_of(st.none(), st.text(min_size=1, max_size=64)),
    value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_events_with_any_unicode_ids_are_stored_once(
    fuzzed: Fuzzed, event_id: str, exposure_id: str | None, value: float | None
) -> None:
    """An event with any unicode ids is accepted and enqueued whole, or refused naming the
    field; accepted, the same id twice in one batch is refused naming the second (the worker
    stores a resend across batches once: tests/unit/jobs/test_functions.py)."""
    event = _event(event_id=event_id, exposure_id=exposure_id, value=value)
    before, enqueued = row_counts(fuzzed.engine), len(fuzzed.dispatcher.calls)
    with TestClient(fuzzed.app, headers=headers()) as client:
        response = client.post("/v1/events", json={"events": [event]})
        fuzzed.check("events unicode", response.status_code, response.content, before,
                     enqueued)
        if response.status_code == 202:
            assert fuzzed.dispatcher.calls[-1][1][0]["event_id"] == event_id
            twice = client.post("/v1/events", json={"events": [event, event]})
            assert twice.status_code == 422, twice.text
            assert [d["loc"] for d in twice.json()["error"]["details"]] == [
                "body.events.1.event_id"]

