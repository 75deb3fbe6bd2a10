"""The same workers on RabbitMQ: only ``RECGEN_BROKER_URL`` changes (``amqp://``); results, the
asset cache and the delivery counters stay on Redis. Real ``celery worker`` processes, a fresh
PostgreSQL database; the feed refresh runs the shipped text model and tiny random image models,
the acknowledgement tests the light engine (the broker is under test there, not the models)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from harness.world import PRODUCTS
from recgen.runtime.celery_config import ping_broker
from tests.support.tiny_models import save_tiny_image_models
from tests.support.worker_world import (
    AMQP_TEST_URL,
    LIGHT_ENGINE,
    WorkerWorld,
    require_rabbitmq,
    worker_world,
)
from tests.support.world import events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = [1, 2, 3, 4, 5, 6]
CRASHING = "tests.support.crashing_tasks"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerWorld]:
    require_rabbitmq()
    tmp = tmp_path_factory.mktemp("rabbitmq")
    generator, classifier = save_tiny_image_models(PRODUCTS, tmp / "models")
    env = {
        "RECGEN_BROKER_URL": AMQP_TEST_URL,
        "RECGEN_IMAGE_MODEL_PATH": str(generator),
        "RECGEN_IMAGE_CLASSIFIER_PATH": str(classifier),
        "RECGEN_MAX_DELIVERIES": "2",
    }
    with worker_world(tmp, users=USERS, env=env) as built:
        assert built.client.conf.broker_url.startswith("amqp://")
        yield built


def _wait_started(world: WorkerWorld, task_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (state := world.dispatcher.task_status(task_id)[0]) != "STARTED":
        assert state in ("PENDING", "RECEIVED"), f"task {task_id}: {state} before STARTED"
        assert time.monotonic() < deadline, f"task {task_id} never started"
        time.sleep(0.05)


def test_readiness_ping_speaks_amqp() -> None:
    ping_broker(AMQP_TEST_URL, 2.0)
    with pytest.raises(Exception, match="refused"):
        ping_broker("amqp://guest:guest@127.0.0.1:1//", 2.0)


def test_feed_refresh_on_rabbitmq_writes_assets_and_audit_once(world: WorkerWorld) -> None:
    log = world.tmp / "amqp.log"
    with world.worker(log.name, include=()):  # the real engine
        clicks = events(1, 4, "amqp")  # the simulated user's history, sent through RabbitMQ
        assert world.wait(world.dispatcher.submit_events(clicks)) == (
            "SUCCESS",
            {"received": 4, "stored": 4, "dead_lettered": 0},
        )
        state, summary = world.wait(world.dispatcher.submit_refresh(1))
        assert state == "SUCCESS", summary
        feed = world.cache.get_feed(1)
        assert feed is not None and len(feed.items) == world.settings.feed_size
        keys = [k for item in feed.items for k in (item.text_key, item.image_key) if k]
        payloads = world.cache.get_many(keys)
        texts = [v for k, v in payloads.items() if k.startswith("asset:text:")]
        images = [v for k, v in payloads.items() if k.startswith("asset:image:")]
        assert texts and all(v is not None and v.decode().strip() for v in texts)
        assert images and all(v is not None and v.startswith(b"\x89PNG") for v in images)
        audited = {row.cache_key for row in world.audit()}
        assert set(keys) <= audited

        # The same task sent twice (two messages, as a redelivery would be) generates once.
        args = (2, [item.product_id for item in feed.items], ("text", "image"))
        sent = [world.dispatcher.submit_generation(*args) for _ in range(2)]
        (first_state, first), (again_state, again) = [world.wait(t) for t in sent]
    assert first_state == again_state == "SUCCESS", (first, again)
    assert first["generated"] == 2 * len(args[1]) and again["generated"] == 0
    rows = [row.cache_key for row in world.audit() if row.user_id == 2]
    assert len(rows) == len(set(rows)) == first["generated"]
    # The worker really consumed from RabbitMQ (Celery's banner names the transport).
    assert "transport:   amqp://guest:**@127.0.0.1:5672//" in log.read_text()


def test_acks_late_prefetch_one_and_bounded_redelivery_on_rabbitmq(world: WorkerWorld) -> None:
    slow = {"RECGEN_TEST_GEN_DELAY_S": "2.0"}  # per text batch: one batch per refresh
    with world.worker("acks.log", env=slow, include=[LIGHT_ENGINE, CRASHING]):
        refreshes = [world.dispatcher.submit_refresh(u) for u in (3, 4, 5)]
        _wait_started(world, refreshes[0])
        # prefetch 1 and acks_late: the running task's message is held unacknowledged (not
        # ready) and no other is reserved, so both others are still ready in the queue.
        ready = world.ready_messages()
        assert world.dispatcher.task_status(refreshes[0])[0] == "STARTED"  # still inside
        assert ready == 2
        assert [world.wait(t)[0] for t in refreshes] == ["SUCCESS"] * 3

        # A task that kills its pool process: requeued by RabbitMQ (reject_on_worker_lost),
        # counted in Redis, failed on the third delivery; the worker carries on.
        poison = world.client.send_task("recgen.tests.crash_worker", queue=world.queue).id
        state, result = world.wait(poison)
        after = world.wait(world.dispatcher.submit_refresh(3))
    assert state == "FAILURE" and "delivered 3 times (limit 2)" in result
    assert after[0] == "SUCCESS"


def test_killed_worker_task_is_requeued_at_once_on_rabbitmq(world: WorkerWorld) -> None:
    """Unlike Redis (redelivery after ``visibility_timeout_s``, an hour by default), RabbitMQ
    requeues a dead consumer's unacknowledged message as soon as its connection drops."""
    slow = {"RECGEN_TEST_GEN_DELAY_S": "30"}
    with world.worker("killed.log", env=slow) as proc:
        task_id = world.dispatcher.submit_refresh(6)  # a user with nothing generated yet
        _wait_started(world, task_id)
        assert world.ready_messages() == 0
        os.killpg(proc.pid, signal.SIGKILL)  # the whole worker, main process included
        proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while world.ready_messages() != 1:
        assert time.monotonic() < deadline, "the unacked message was not requeued"
        time.sleep(0.1)
    with world.worker("restarted.log"):
        state, summary = world.wait(task_id)
    assert state == "SUCCESS" and summary["users"] == 1, summary
