"""Submitting background work: to Celery workers by task *name*, or to an in-process pool.

Interface (:class:`Dispatcher`; every method returns at once):

- ``submit_generation(user_id, product_ids, kinds=("text", "image"), *, task_id=None)
  -> task_id``
- ``submit_refresh(user_id) -> task_id`` (retrieve candidates, generate what is missing, write
  the user's feed)
- ``submit_events(events, *, task_id=None) -> task_id`` (store interaction dicts, update
  profiles)

``task_id``: the id to submit under (the API chooses it, to record and count the task before
it is queued: :mod:`recgen.runtime.queued`); None: a new one.
- ``task_status(task_id) -> (state, result)``: state is one of Celery's names
  (``PENDING``, ``STARTED``, ``RETRY``, ``SUCCESS``, ``FAILURE``); result is the task's
  JSON-able return value on SUCCESS, the error text on FAILURE, else None.

:class:`CeleryDispatcher` sends by task name through a client-only Celery app (it never
imports ``workers/``: the arrow points the other way); :class:`InProcessDispatcher`, the
embedded default, runs the same job functions as the workers (:mod:`recgen.jobs.functions`)
in a small thread pool. :func:`recgen.runtime.bootstrap.build_dispatcher` picks one.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from celery import Celery

from recgen.core.types import AssetKind
from recgen.jobs.names import TASK_GENERATE_ASSETS, TASK_RECORD_EVENTS, TASK_REFRESH_FEED

log = logging.getLogger(__name__)
ALL_KINDS: tuple[AssetKind, ...] = ("text", "image")

# A job runner takes (task name, keyword arguments) and returns a JSON-able result.
JobRunner = Callable[[str, Mapping[str, Any]], Any]


class Dispatcher(Protocol):
    def submit_generation(
        self,
        user_id: int,
        product_ids: Sequence[int],
        kinds: Sequence[AssetKind] = ALL_KINDS,
        *,
        task_id: str | None = None,
    ) -> str: ...
    def submit_refresh(self, user_id: int) -> str: ...
    def submit_events(
        self, events: Sequence[Mapping[str, Any]], *, task_id: str | None = None
    ) -> str: ...
    def task_status(self, task_id: str) -> tuple[str, Any]: ...


def generation_kwargs(
    user_id: int, product_ids: Sequence[int], kinds: Sequence[AssetKind]
) -> dict[str, Any]:
    unknown = set(kinds) - set(ALL_KINDS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {ALL_KINDS}, got {list(kinds)}")
    return {
        "user_id": int(user_id),
        "product_ids": [int(p) for p in product_ids],
        "kinds": list(dict.fromkeys(kinds)),
    }


class CeleryDispatcher:
    """Sends tasks by name; never imports the worker code or the models."""

    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def _send(self, name: str, kwargs: Mapping[str, Any], task_id: str | None = None) -> str:
        sent = self._app.send_task(name, kwargs=dict(kwargs), queue=self._queue, task_id=task_id)
        return str(sent.id)

    def submit_generation(
        self,
        user_id: int,
        product_ids: Sequence[int],
        kinds: Sequence[AssetKind] = ALL_KINDS,
        *,
        task_id: str | None = None,
    ) -> str:
        kwargs = generation_kwargs(user_id, product_ids, kinds)
        return self._send(TASK_GENERATE_ASSETS, kwargs, task_id)

    def submit_refresh(self, user_id: int) -> str:
        return self._send(TASK_REFRESH_FEED, {"user_id": int(user_id)})

    def submit_events(
        self, events: Sequence[Mapping[str, Any]], *, task_id: str | None = None
    ) -> str:
        return self._send(TASK_RECORD_EVENTS, {"events": [dict(e) for e in events]}, task_id)

    def task_status(self, task_id: str) -> tuple[str, Any]:
        result = self._app.AsyncResult(task_id)
        state = str(result.state)
        if state == "SUCCESS":
            return state, result.result
        if state == "FAILURE":
            return state, str(result.result)
        return state, None


class InProcessDispatcher:
    """The embedded default: the same jobs in a thread pool, statuses kept in memory.

    ``runner`` is built lazily on first use so constructing the API does not load models.
    Like a result backend with expiry, only the newest ``keep_results`` finished tasks are
    remembered (a long-running API submits a task per feed miss); an older id answers
    ``PENDING``, as Celery does for an expired or unknown one. Unfinished tasks are all kept.
    ``on_finish`` is called with each task's id when it has ended (as the workers report it).
    """

    def __init__(
        self,
        runner_factory: Callable[[], JobRunner],
        max_workers: int = 2,
        keep_results: int = 1000,
        on_finish: Callable[[str], None] | None = None,
    ) -> None:
        self._runner_factory = runner_factory
        self._on_finish = on_finish
        self._runner: JobRunner | None = None
        self._runner_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="recgen-job")
        self._keep_results = keep_results
        self._futures_lock = threading.Lock()
        self._unfinished: dict[str, Future[Any]] = {}
        self._finished: OrderedDict[str, Future[Any]] = OrderedDict()

    def _run(self, name: str, kwargs: Mapping[str, Any]) -> Any:
        with self._runner_lock:
            if self._runner is None:
                self._runner = self._runner_factory()
            runner = self._runner
        return runner(name, kwargs)

    def _submit(self, name: str, kwargs: Mapping[str, Any], task_id: str | None = None) -> str:
        task_id = task_id or str(uuid.uuid4())
        future = self._pool.submit(self._run, name, kwargs)
        with self._futures_lock:
            self._unfinished[task_id] = future
        # Registered after the insert: a future already done runs the callback right here.
        future.add_done_callback(lambda _: self._finish(task_id))
        return task_id

    def _finish(self, task_id: str) -> None:
        with self._futures_lock:
            self._finished[task_id] = self._unfinished.pop(task_id)
            while len(self._finished) > self._keep_results:
                self._finished.popitem(last=False)
        if self._on_finish is not None:
            try:
                self._on_finish(task_id)
            except Exception:  # the task is done whatever its bookkeeping says
                log.exception("could not report task %s finished", task_id)

    def _future(self, task_id: str) -> Future[Any] | None:
        with self._futures_lock:
            return self._unfinished.get(task_id) or self._finished.get(task_id)

    def submit_generation(
        self,
        user_id: int,
        product_ids: Sequence[int],
        kinds: Sequence[AssetKind] = ALL_KINDS,
        *,
        task_id: str | None = None,
    ) -> str:
        kwargs = generation_kwargs(user_id, product_ids, kinds)
        return self._submit(TASK_GENERATE_ASSETS, kwargs, task_id)

    def submit_refresh(self, user_id: int) -> str:
        return self._submit(TASK_REFRESH_FEED, {"user_id": int(user_id)})

    def submit_events(
        self, events: Sequence[Mapping[str, Any]], *, task_id: str | None = None
    ) -> str:
        return self._submit(TASK_RECORD_EVENTS, {"events": [dict(e) for e in events]}, task_id)

    def task_status(self, task_id: str) -> tuple[str, Any]:
        future = self._future(task_id)
        if future is None:
            return "PENDING", None  # what Celery says for an unknown or expired id, too
        if future.running():
            return "STARTED", None
        if not future.done():
            return "PENDING", None
        error = future.exception()
        if error is not None:
            return "FAILURE", f"{type(error).__name__}: {error}"
        return "SUCCESS", future.result()

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
