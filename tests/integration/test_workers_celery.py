"""Feed refresh through a real Celery worker process on the real Redis broker, with the real
models, the real profiles/FAISS service and a fresh PostgreSQL database (not eager mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from harness.worker_process import celery_worker, wait_for_task
from recgen.catalog.styles import read_styles
from recgen.core.config import PROJECT_ROOT, load_settings
from recgen.generation.cache import MemoryAssetCache, RedisAssetCache
from recgen.runtime.bootstrap import build_dispatcher
from recgen.runtime.celery_config import make_celery_client
from recgen.runtime.dispatch import CeleryDispatcher
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import GeneratedAssetRow
from recgen.store.repos.products import upsert_products
from tests.support.tiny_models import save_tiny_image_models
from tests.support.world import worker_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = 12
PRODUCTS = 300
TASK_TIMEOUT_S = 300.0


@dataclass
class World:
    env: dict[str, str]
    dispatcher: CeleryDispatcher
    cache: RedisAssetCache
    pg_url: str
    tmp: Path
    product_ids: list[int]

    def wait(self, task_id: str) -> Any:
        return wait_for_task(self.dispatcher, task_id, timeout=TASK_TIMEOUT_S)

    def audit(self) -> list[GeneratedAssetRow]:
        factory = session_factory(make_engine(self.pg_url))
        with session_scope(factory) as session:
            return list(session.scalars(select(GeneratedAssetRow)))


def _recgen(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from recgen.cli import main; main()", *args],
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
        timeout=600,
        capture_output=True,
        text=True,
    )
    # The command's own words, not only its exit status, when a set-up step fails.
    assert done.returncode == 0, f"recgen {' '.join(args)}: {done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def world(
    migrated_pg_url: str, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("workers")
    run = uuid.uuid4().hex[:8]
    env = worker_env(
        migrated_pg_url,
        tmp / "indexes",
        f"recgen-test-{run}",
        RECGEN_LOCK_WAIT_S="2",
        RECGEN_MAX_DELIVERIES="2",
    )
    products = read_styles(data_dir / "myntra" / "styles.csv").products[:PRODUCTS]
    with session_scope(session_factory(make_engine(migrated_pg_url))) as session:
        upsert_products(session, products=products)
    # The shipped text model; tiny random image models (no image weights are shipped yet).
    generator_path, classifier_path = save_tiny_image_models(products, tmp / "models")
    env["RECGEN_IMAGE_MODEL_PATH"] = str(generator_path)
    env["RECGEN_IMAGE_CLASSIFIER_PATH"] = str(classifier_path)
    _recgen(env, "simulate", "users", "--users", str(USERS), "--views-per-user", "8")
    _recgen(env, "index", "rebuild", "--personas", "3")
    for key, value in env.items():
        os.environ[key] = value
    settings = load_settings()
    client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    cache = RedisAssetCache(client, settings.cache_prefix, 600, 0.1)
    dispatcher = CeleryDispatcher(make_celery_client(settings), settings.celery_queue)
    try:
        yield World(env, dispatcher, cache, migrated_pg_url, tmp, [p.product_id for p in products])
    finally:
        cache.purge()
        for key in env:
            os.environ.pop(key, None)


def test_feed_refresh_writes_assets_feed_and_audit_and_runs_once(world: World) -> None:
    with celery_worker(world.env, world.tmp / "worker.log"):
        state, summary = world.wait(world.dispatcher.submit_refresh(1))
        assert state == "SUCCESS", summary
        feed = world.cache.get_feed(1)
        assert feed is not None and len(feed.items) == 10
        keys = [k for item in feed.items for k in (item.text_key, item.image_key) if k]
        assert keys, "every asset of the feed fell back to stock"
        payloads = world.cache.get_many(keys)
        images = [v for k, v in payloads.items() if k.startswith("asset:image:")]
        texts = [v for k, v in payloads.items() if k.startswith("asset:text:")]
        assert images and all(v is not None and v.startswith(b"\x89PNG") for v in images)
        assert texts and all(v is not None and v.decode().strip() for v in texts)
        audited = {row.cache_key: row for row in world.audit()}
        assert set(keys) <= set(audited)
        row = audited[keys[0]]
        assert row.model_version and row.gate_passed and row.conditions["product"]

        # The same generation sent twice (two messages, as a redelivery would) runs once.
        args = (1, [item.product_id for item in feed.items], ("text", "image"))
        first = world.wait(world.dispatcher.submit_generation(*args))
        again = world.wait(world.dispatcher.submit_generation(*args))
        assert first[0] == again[0] == "SUCCESS"
        assert first[1]["generated"] == again[1]["generated"] == 0
        rows = world.audit()
        assert len(rows) == len({r.cache_key for r in rows})

        # Events (user 3: user 1's candidates must stay put for the tests below) are stored
        # once even when the batch is sent twice.
        events = [
            {"event_id": f"it-{i}", "user_id": 3, "product_id": pid, "kind": "click"}
            for i, pid in enumerate(world.product_ids[:3])
        ]
        stored = [world.wait(world.dispatcher.submit_events(events)) for _ in range(2)]
        assert stored == [
            ("SUCCESS", {"received": 3, "stored": 3, "dead_lettered": 0}),
            ("SUCCESS", {"received": 3, "stored": 0, "dead_lettered": 0}),
        ]


def test_in_process_executor_runs_the_same_jobs(world: World) -> None:
    settings = load_settings().model_copy(
        update={"executor": "inprocess", "cache_backend": "memory", "persona_sharing": False}
    )
    cache = MemoryAssetCache(600, 0.1)
    dispatcher = build_dispatcher(settings, cache=cache)
    task_id = dispatcher.submit_refresh(2)
    state, summary = wait_for_task(dispatcher, task_id, timeout=TASK_TIMEOUT_S)
    assert state == "SUCCESS", summary
    feed = cache.get_feed(2)
    assert feed is not None and len(feed.items) == 10
    assert all(item.persona_id is None for item in feed.items)
    assert any(item.text_key and item.text_key.endswith(":u2") for item in feed.items)


def test_poison_task_is_dropped_after_bounded_deliveries(world: World) -> None:
    with celery_worker(
        world.env, world.tmp / "poison.log", include=["tests.support.crashing_tasks"]
    ):
        client = make_celery_client(load_settings())
        task_id = client.send_task(
            "recgen.tests.crash_worker", queue=world.env["RECGEN_CELERY_QUEUE"]
        ).id
        state, result = world.wait(task_id)
    assert state == "FAILURE" and "delivered 3 times (limit 2)" in result


def test_one_failing_product_gets_stock_and_the_feed_survives(world: World) -> None:
    feed = world.cache.get_feed(1)
    assert feed is not None
    bad = feed.items[0].product_id
    env = {**world.env, "RECGEN_TEST_FAIL_PRODUCT": str(bad), "RECGEN_PERSONA_SHARING": "false"}
    with celery_worker(env, world.tmp / "faulty.log", include=["tests.support.faults"]):
        state, summary = world.wait(world.dispatcher.submit_refresh(1))
    assert state == "SUCCESS" and summary["failed"] == 1
    after = world.cache.get_feed(1)
    assert after is not None
    by_product = {item.product_id: item for item in after.items}
    assert by_product[bad].text_key is None and by_product[bad].text_gate is not None
    assert "injected failure" in by_product[bad].text_gate.reasons[0]
    others = [item for pid, item in by_product.items() if pid != bad]
    assert all(item.persona_id is None for item in others)  # sharing off: the user's own
    for item in others:
        # Generated for the user; a real gate may still refuse one, but nothing else failed.
        assert item.text_gate is not None
        assert item.text_key is not None or not item.text_gate.reasons[0].startswith(
            "generation_error"
        )
    assert any(item.text_key for item in others) and all(item.image_key for item in others)


def test_model_version_change_makes_old_keys_unreachable(world: World) -> None:
    settings = load_settings()
    changed = world.tmp / "text-v2"
    before = world.cache.get_feed(1)
    assert before is not None
    old_text = {item.text_key for item in before.items if item.text_key}
    _new_weights(settings.text_model_path, changed)
    env = {**world.env, "RECGEN_TEXT_MODEL_PATH": str(changed)}
    with celery_worker(env, world.tmp / "v2.log"):
        state, summary = world.wait(world.dispatcher.submit_refresh(1))
    assert state == "SUCCESS"
    after = world.cache.get_feed(1)
    assert after is not None and after.model_versions["text"] != before.model_versions["text"]
    new_text = {item.text_key for item in after.items if item.text_key}
    assert new_text and not (new_text & old_text)
    assert summary["generated"] >= len(new_text)
    assert all(after.model_versions["text"] in key for key in new_text)


def _new_weights(source: Path, target: Path) -> None:
    """A model upgrade: the same model with one weight nudged, saved as a new artefact."""
    import torch

    from recgen.models.text import TextModel

    model = TextModel.from_pretrained(source)
    with torch.no_grad():
        next(model.model.parameters()).add_(1e-3)
    model.save_pretrained(target)
