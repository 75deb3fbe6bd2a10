"""The whole worker (main process and pool) SIGKILLed mid-task, on the broker the production
compose deploys: its task completes once within a minute of the worker's restart.

On a Redis broker the dead worker's unacknowledged message stays invisible until
visibility_timeout_s (an hour) runs out; RabbitMQ requeues it as soon as the connection drops.
The test reads the broker scheme from docker-compose.yml, so it checks what is deployed.
Real worker processes, PostgreSQL, Redis (cache, results) and the local broker of that scheme.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from recgen.core.config import PROJECT_ROOT
from tests.support.worker_world import (
    AMQP_TEST_URL,
    WorkerWorld,
    require_rabbitmq,
    worker_world,
)

USER = 7
RESTART_BOUND_S = 60.0
# The local broker standing in for the compose's one, by scheme (redis: config/test.toml's).
LOCAL_BROKERS = {"amqp": {"RECGEN_BROKER_URL": AMQP_TEST_URL}, "redis": {}}


def deployed_broker_scheme(compose: Path = PROJECT_ROOT / "docker-compose.yml") -> str:
    services = yaml.safe_load(compose.read_text())["services"]
    url = str(services["worker"]["environment"]["RECGEN_BROKER_URL"])
    return url.split("://", 1)[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerWorld]:
    scheme = deployed_broker_scheme()
    assert scheme in LOCAL_BROKERS, f"docker-compose.yml deploys an unknown broker: {scheme}"
    if scheme == "amqp":
        require_rabbitmq()
    with worker_world(
        tmp_path_factory.mktemp("kill-broker"), users=[USER], env=LOCAL_BROKERS[scheme]
    ) as built:
        yield built


def _wait_started(world: WorkerWorld, task_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while world.dispatcher.task_status(task_id)[0] != "STARTED":
        assert time.monotonic() < deadline, f"task {task_id} never started"
        time.sleep(0.05)


def test_task_of_a_killed_worker_completes_once_within_a_minute_of_restart(
    world: WorkerWorld,
) -> None:
    # Slow enough that the kill lands while the task is running (its message unacked).
    with world.worker("killed.log", env={"RECGEN_TEST_GEN_DELAY_S": "30"}) as proc:
        task_id = world.dispatcher.submit_refresh(USER)
        _wait_started(world, task_id)
        os.killpg(proc.pid, signal.SIGKILL)  # main process and pool: nothing acks or rejects
        proc.wait(timeout=10)
    with world.worker("restarted.log"):
        restarted = time.monotonic()
        state, summary = world.wait(task_id, timeout=RESTART_BOUND_S)
        took = time.monotonic() - restarted
    assert state == "SUCCESS" and summary["users"] == 1, summary
    assert took < RESTART_BOUND_S
    # Once in effect: one audit row per asset, and the user's feed written.
    audited = [row.cache_key for row in world.audit()]
    assert audited and len(audited) == len(set(audited))
    assert world.cache.get_feed(USER) is not None
