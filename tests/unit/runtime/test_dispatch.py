"""The in-process dispatcher's task states, argument validation, and the shared Celery config."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import pytest

from recgen.core.config import ConfigError, load_settings
from recgen.jobs.names import TASK_GENERATE_ASSETS, TASK_REFRESH_FEED
from recgen.runtime.celery_config import celery_config
from recgen.runtime.dispatch import InProcessDispatcher, generation_kwargs


def test_in_process_dispatcher_runs_jobs_and_reports_states() -> None:
    gate = threading.Event()
    calls: list[tuple[str, dict[str, Any]]] = []

    def runner(name: str, kwargs: Mapping[str, Any]) -> Any:
        calls.append((name, dict(kwargs)))
        if name == TASK_REFRESH_FEED:
            gate.wait(5)
            raise RuntimeError("boom")
        return {"ok": kwargs["user_id"]}

    dispatcher = InProcessDispatcher(lambda: runner, max_workers=2)
    slow = dispatcher.submit_refresh(4)
    fast = dispatcher.submit_generation(3, [10, 11], ["text"])
    dispatcher.shutdown(wait=False)
    assert dispatcher.task_status("unknown") == ("PENDING", None)
    assert dispatcher.task_status(slow)[0] in ("PENDING", "STARTED")
    gate.set()
    dispatcher.shutdown(wait=True)
    assert dispatcher.task_status(fast) == ("SUCCESS", {"ok": 3})
    assert dispatcher.task_status(slow) == ("FAILURE", "RuntimeError: boom")
    assert (
        TASK_GENERATE_ASSETS,
        {"user_id": 3, "product_ids": [10, 11], "kinds": ["text"]},
    ) in calls


def test_in_process_dispatcher_keeps_a_bounded_number_of_finished_results() -> None:
    class Result:  # weak-referenceable, so a dropped result can be seen to be freed
        def __init__(self, n: int) -> None:
            self.n = n

    made: list[weakref.ref[Result]] = []

    def runner(name: str, kwargs: Mapping[str, Any]) -> Any:
        result = Result(int(kwargs["user_id"]))
        made.append(weakref.ref(result))
        return result

    dispatcher = InProcessDispatcher(lambda: runner, max_workers=2, keep_results=5)
    ids = [dispatcher.submit_refresh(n) for n in range(200)]
    dispatcher.shutdown(wait=True)
    known = [i for i in ids if dispatcher.task_status(i)[0] != "PENDING"]
    assert known == ids[-5:]  # the newest results, like a result backend's expiry
    assert [dispatcher.task_status(i)[1].n for i in known] == list(range(195, 200))
    gc.collect()
    assert sum(ref() is not None for ref in made) == 5  # the older results were let go


def test_generation_kwargs_validates_kinds() -> None:
    with pytest.raises(ValueError, match="kinds"):
        generation_kwargs(1, [1], ["video"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="kinds"):
        generation_kwargs(1, [1], [])


def test_celery_config_is_json_only_and_acks_late(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGEN_CELERY_QUEUE", "q-test")
    conf = celery_config(load_settings())
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_default_queue"] == "q-test"
    vt = conf["broker_transport_options"]["visibility_timeout"]
    assert vt > conf["task_time_limit"]


def test_visibility_timeout_is_only_given_to_brokers_that_emulate_acks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # AMQP acknowledges natively; kombu would pass the option to amqp.Connection, which
    # silently ignores it.
    monkeypatch.setenv("RECGEN_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    conf = celery_config(load_settings())
    assert conf["broker_transport_options"] == {}
    assert conf["task_acks_late"] and conf["worker_prefetch_multiplier"] == 1


def test_visibility_timeout_must_outlive_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECGEN_TASK_TIME_LIMIT_S", "600")
    monkeypatch.setenv("RECGEN_VISIBILITY_TIMEOUT_S", "300")
    with pytest.raises(ConfigError, match="visibility_timeout_s"):
        load_settings()


def test_in_process_tasks_run_under_the_given_id_and_report_their_end() -> None:
    finished: list[str] = []

    def runner(name: str, kwargs: Mapping[str, Any]) -> Any:
        if name == TASK_REFRESH_FEED:
            raise RuntimeError("boom")
        return None

    dispatcher = InProcessDispatcher(lambda: runner, on_finish=finished.append)
    given = dispatcher.submit_events([{"event_id": "e"}], task_id="chosen-1")
    failed = dispatcher.submit_refresh(4)
    dispatcher.shutdown(wait=True)
    assert given == "chosen-1" and dispatcher.task_status(given) == ("SUCCESS", None)
    # Failed or not, an ended task is reported (it stops counting against its key).
    assert sorted(finished) == sorted([given, failed])
