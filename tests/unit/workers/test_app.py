"""The worker app is configured from the settings when first used, not when imported; its
tasks share one base class (retry policy, delivery guard) and keep only polled results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy.exc import OperationalError

import workers.tasks as tasks
from recgen.core.config import PROJECT_ROOT
from workers.tasks import (
    PoisonTaskError,
    RecgenTask,
    generate_assets,
    record_events,
    refresh_feed,
    refresh_feeds,
    refresh_stale_feeds,
)

ALL_TASKS = (generate_assets, refresh_feed, refresh_feeds, refresh_stale_feeds, record_events)

# Settings that fail validation while the tasks are imported, valid ones afterwards.
AFTER_IMPORT = """
import json, os
import workers.tasks
from recgen.core.config import get_settings
del os.environ["RECGEN_VISIBILITY_TIMEOUT_S"]
os.environ["RECGEN_CELERY_QUEUE"] = "set-after-import"
os.environ["RECGEN_TASK_MAX_RETRIES"] = "5"
get_settings.cache_clear()
from workers.app import app
print(json.dumps({"queue": app.conf.task_default_queue,
                  "include": list(app.conf.include),
                  "max_retries": workers.tasks.generate_assets.max_retries}))
"""


def test_importing_the_tasks_reads_no_settings_and_later_settings_are_used() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RECGEN_TASK_TIME_LIMIT_S": "600",
        "RECGEN_VISIBILITY_TIMEOUT_S": "300",  # shorter than the time limit: invalid
    }
    done = subprocess.run([sys.executable, "-c", AFTER_IMPORT], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "queue": "set-after-import", "include": ["workers.tasks"], "max_retries": 5,
    }


def test_every_task_has_the_base_class_and_only_polled_tasks_keep_results() -> None:
    assert all(isinstance(task, RecgenTask) for task in ALL_TASKS)
    # GET /v1/tasks/{id} polls generation and event tasks, and submit_refresh hands out its
    # id; beat ticks and their chunks are followed by nobody.
    assert [task.ignore_result for task in ALL_TASKS] == [False, False, True, True, False]


def test_transient_errors_are_retried_in_the_body_and_at_the_delivery_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted: list[tuple[str, int]] = []
    calls: list[list[dict[str, object]]] = []

    def deliveries(task_id: str, retries: int) -> int:
        counted.append((task_id, retries))
        if retries == 0:
            raise tasks.TRANSIENT[0]("the counter's Redis blinked")
        return 1

    def job(_ctx: object, *, events: list[dict[str, object]]) -> dict[str, int]:
        calls.append(events)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("the database restarted"))
        return {"received": 0, "stored": 0}

    monkeypatch.setattr(tasks, "_deliveries", deliveries)
    monkeypatch.setattr(tasks, "context", lambda: None)
    monkeypatch.setattr(tasks, "record_job", job)
    result = record_events.apply(kwargs={"events": []}, task_id="t-1")
    assert result.get() == {"received": 0, "stored": 0}
    # Retry 1 after the counter's error, retry 2 after the body's: each delivery counted once.
    assert counted == [("t-1", 0), ("t-1", 1), ("t-1", 2)]
    assert len(calls) == 2


def test_a_delivery_past_max_deliveries_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "_deliveries", lambda _id, _retries: 4)  # limit: 3
    monkeypatch.setattr(tasks, "context", lambda: pytest.fail("a poison task ran"))
    result = refresh_feed.apply(kwargs={"user_id": 1}, task_id="t-2")
    with pytest.raises(PoisonTaskError, match="delivered 4 times"):
        result.get()
