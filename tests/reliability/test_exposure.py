"""What the running API shows to whom: probes open no connection per call and name no
address, and the production settings close the docs, gate the metrics and keep 403s terse.

Real API on its own Redis (cache and broker, so its connections can be counted) and the
session's PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis
from fastapi.testclient import TestClient

from harness.world import api_settings, headers, seed
from recgen.api.app import create_app
from recgen.core.config import config_file_for, load_settings
from tests.support.services import OwnRedis

PROBES = 30
# The settings config/production.toml sets for exposure (the rest of that file names hosts
# of the compose network, which do not exist here).
EXPOSURE_FIELDS = ("api_docs_enabled", "api_metrics_public", "api_verbose_auth_errors",
                   "api_ready_cache_seconds")


def _connections_received(url: str) -> int:
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


def _app(own_redis: OwnRedis, db_url: str, **extra: Any) -> TestClient:
    settings = api_settings(db_url, own_redis.url().rsplit("/", 1)[0],
                            f"rel-exp-{uuid.uuid4().hex[:8]}", **extra)
    return TestClient(create_app(settings))


def test_readiness_reuses_its_broker_connection_and_names_no_address(
    own_redis: OwnRedis, migrated_pg_url: str
) -> None:
    seed(migrated_pg_url)
    with _app(own_redis, migrated_pg_url) as client:
        assert client.get("/health/ready").status_code == 200  # connections made once
        before = _connections_received(own_redis.url())
        for _ in range(PROBES):
            assert client.get("/health/ready").status_code == 200
        # Before the fix every probe opened (and closed) a broker connection: 30 here.
        opened = _connections_received(own_redis.url()) - before - 1  # -1: this count's own
        assert opened <= 2, f"{opened} connections for {PROBES} probes"

    dead_broker = "redis://127.0.0.1:1/0"
    with _app(own_redis, migrated_pg_url, broker_url=dead_broker) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["broker"]["ok"] is False
        # Which check failed and how, but no host, port or connection string.
        assert "127.0.0.1" not in ready.text and ":1" not in ready.text


def test_production_exposure_defaults(own_redis: OwnRedis, migrated_pg_url: str) -> None:
    seed(migrated_pg_url)
    production = load_settings(config_file_for("production"))
    exposure = {name: getattr(production, name) for name in EXPOSURE_FIELDS}
    # AMQP brokers get a connection per check: the verdict cache bounds those in production.
    assert exposure["api_ready_cache_seconds"] > 0
    with _app(own_redis, migrated_pg_url, **exposure) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=headers("recommender")).status_code == 403
        assert client.get("/metrics", headers=headers("admin")).status_code == 200
        denied = client.post("/v1/experiments", json={"name": "x"},
                             headers=headers("recommender"))
        assert denied.status_code == 403
        # Neither the key's name nor what else it may do.
        assert "rel-recommender" not in denied.text and "recommender" not in denied.text
