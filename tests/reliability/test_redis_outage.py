"""Redis (cache + broker) crashes and comes back while the real API serves feeds and events.

The API runs on a Redis of its own that the test SIGKILLs (no persistence, as in CI/compose);
the database is the session's PostgreSQL. Nothing here uses a fake dispatcher: events go to the
real Celery client, so an outage is what production would see.
"""

from __future__ import annotations

import time
import uuid

from fastapi.testclient import TestClient

from harness.world import PRODUCTS, api_settings, headers, seed, stored_event_ids
from recgen.api.app import create_app
from tests.support.services import OwnRedis
from tests.support.world import events, put_generated_feed, stored_exposures

RECOVERY_BOUND_S = 10.0


def _wait_ready(client: TestClient) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_BOUND_S:
        if client.get("/health/ready").status_code == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"API not ready {RECOVERY_BOUND_S}s after Redis returned")


def test_api_serves_stock_refuses_nothing_silently_and_recovers(
    own_redis: OwnRedis, migrated_pg_url: str
) -> None:
    seed(migrated_pg_url)
    prefix = f"rel-{uuid.uuid4().hex[:8]}"
    settings = api_settings(migrated_pg_url, own_redis.url().rsplit("/", 1)[0], prefix)
    feed_products = [p.product_id for p in PRODUCTS[:5]]
    put_generated_feed(settings.redis_url, prefix, 7, feed_products)
    app = create_app(settings)
    with TestClient(app, headers=headers()) as client:
        before = client.get("/v1/feed/7")
        assert before.status_code == 200 and before.json()["state"] == "ready"
        assert all(i["text_source"] == "generated" for i in before.json()["items"])
        assert client.get("/health/ready").status_code == 200

        own_redis.kill()
        served = client.get("/v1/feed/7")
        assert served.status_code == 200, served.text
        body = served.json()
        # The user's own products, with stock content instead of an error.
        assert body["state"] == "degraded"
        assert [i["product_id"] for i in body["items"]] == feed_products
        assert all(i["content"] == "stock" and i["text"] == i["title"] for i in body["items"])
        stranger = client.get("/v1/feed/8", params={"limit": 3})
        assert stranger.status_code == 200 and len(stranger.json()["items"]) == 3
        # What was shown in the outage is logged, straight to SQL (the stream is in Redis).
        shown = {i["exposure_id"]: i["product_id"] for i in body["items"]}
        assert stored_exposures(migrated_pg_url, list(shown)) == {
            eid: (7, pid, "stock") for eid, pid in shown.items()
        }

        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False

        outage_events = events(7, 5, "outage")
        started = time.monotonic()
        accepted = client.post("/v1/events", json={"events": outage_events})
        events_s = time.monotonic() - started
        assert accepted.status_code == 202, accepted.text
        assert accepted.json() == {"accepted": 5, "new": 5, "duplicates": 0, "task_id": None}
        # Stored before the 202: nothing accepted in the outage can be lost.
        assert stored_event_ids(migrated_pg_url, [e["event_id"] for e in outage_events]) == {
            e["event_id"] for e in outage_events
        }

        refused = client.post(
            "/v1/generate", json={"user_id": 7, "product_ids": feed_products[:2]}
        )
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["error"]["code"] == "unavailable"

        own_redis.start()
        recovery_s = _wait_ready(client)
        after = client.get("/v1/feed/7")
        # The cache restarted empty: the user gets "refreshing" (and a refresh is queued).
        assert after.status_code == 200 and after.json()["state"] in ("ready", "refreshing")
        more = client.post("/v1/events", json={"events": events(7, 2, "after")})
        assert more.status_code == 202 and more.json()["task_id"]
    print(f"\nredis outage: events stored in SQL in {events_s:.2f}s; "
          f"ready again {recovery_s:.2f}s after Redis returned")
