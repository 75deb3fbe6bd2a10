"""Who may read a task: the API key that submitted it, recorded in Redis before it is queued,
when the task is admitted against the key's bound of queued tasks (:mod:`recgen.runtime.queued`).

Task ids are UUIDs, but they travel in logs and Location headers; without this any backend key
could read another key's job (its user id, personas and asset keys). An id that was never
submitted here, has expired, or belongs to another key answers the same 404.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import redis

from recgen.api.errors import ApiError
from recgen.api.state import AppState, Principal
from recgen.core import keys

log = logging.getLogger(__name__)
TaskKind = Literal["generate", "events"]
# What a failed task's status says: what failed, never the exception (paths, SQL, hosts).
FAILURE_MESSAGES: dict[str, str] = {
    "generate": "generating the assets failed; the feed serves stock content for them",
    "events": "recording the events failed after its retries; send the batch again "
    "(events are stored once per event_id)",
}


# Queued tasks end in seconds; a client asking again sooner would only be refused again.
QUEUE_FULL_RETRY_S = 5


class Submission:
    """A task id admitted for an API key (counted, recorded as the key's) before it is queued."""

    def __init__(self, state: AppState, task_id: str, owner: str, admitted: bool) -> None:
        self.task_id = task_id
        self._state = state
        self._owner = owner
        self._admitted = admitted

    def cancel(self) -> None:
        """Nothing was queued under this id: it no longer counts and has no owner."""
        if not self._admitted:
            return
        self._admitted = False
        try:
            self._state.queued.withdraw(self.task_id, self._owner)
        except redis.RedisError as exc:  # its entry lapses by itself
            log.warning("could not withdraw task %s: %s", self.task_id, exc)


@contextmanager
def submission(state: AppState, principal: Principal, kind: TaskKind) -> Iterator[Submission]:
    """A new task id for ``principal``'s work, counted against the key's bound of queued,
    unfinished tasks and recorded as its own before anything is queued: over the bound,
    ApiError(429) and nothing written. If the block raises, the admission is undone."""
    task_id = str(uuid.uuid4())
    owner: keys.TaskOwner = {"owner": principal.name, "kind": kind}
    bound = state.settings.api_queued_tasks_per_key
    try:
        admitted = state.queued.admit(
            task_id, owner, bound=bound, owner_ttl_s=state.settings.task_result_expires_s
        )
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # Not countable while Redis is down: open, as the rate limits are (events are then
        # stored in SQL, and a 202 there is kept). The task's status is unreadable (404),
        # which hides nothing from anyone.
        log.warning("could not admit %s task for %r, Redis down: %s", kind, principal.name, exc)
        admitted = None
    if admitted is False:
        raise ApiError(
            429,
            "too_many_tasks",
            f"key {principal.name!r} has {bound} tasks queued and not finished, its limit; "
            f"retry when some have finished",
            [{"loc": "header.X-API-Key", "message": "queued task limit reached"}],
            headers={"Retry-After": str(QUEUE_FULL_RETRY_S)},
        )
    admission = Submission(state, task_id, principal.name, bool(admitted))
    try:
        yield admission
    except BaseException:
        admission.cancel()
        raise


def owned_task(state: AppState, task_id: str, principal: Principal) -> keys.TaskOwner | None:
    """The task's record if ``principal`` submitted it; None for every other case."""
    raw = state.redis_sync.get(keys.prefixed(state.settings.cache_prefix,
                                             keys.task_owner_key(task_id)))
    if raw is None:
        return None
    owner = keys.TASK_OWNER.validate_json(raw)
    return owner if owner["owner"] == principal.name else None
