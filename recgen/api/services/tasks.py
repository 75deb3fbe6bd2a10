"""Who may read a task: the API key that submitted it, recorded in Redis at submit time.

Task ids are UUIDs, but they travel in logs and Location headers; without this any backend key
could read another key's job (its user id, personas and asset keys). An id that was never
submitted here, has expired, or belongs to another key answers the same 404.
"""

from __future__ import annotations

import logging
from typing import Literal

import redis

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


def record_owner(state: AppState, task_id: str, principal: Principal, kind: TaskKind) -> None:
    """Remember that ``principal`` submitted ``task_id``, as long as its result is kept."""
    owner: keys.TaskOwner = {"owner": principal.name, "kind": kind}
    slot = keys.prefixed(state.settings.cache_prefix, keys.task_owner_key(task_id))
    try:
        state.redis_sync.set(
            slot, keys.TASK_OWNER.dump_json(owner), ex=state.settings.task_result_expires_s
        )
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # The work is already enqueued and must not be refused now; its status is then
        # unreadable (404), which hides nothing from anyone.
        log.warning("could not record the owner of task %s: %s", task_id, exc)


def owned_task(state: AppState, task_id: str, principal: Principal) -> keys.TaskOwner | None:
    """The task's record if ``principal`` submitted it; None for every other case."""
    raw = state.redis_sync.get(keys.prefixed(state.settings.cache_prefix,
                                             keys.task_owner_key(task_id)))
    if raw is None:
        return None
    owner = keys.TASK_OWNER.validate_json(raw)
    return owner if owner["owner"] == principal.name else None
