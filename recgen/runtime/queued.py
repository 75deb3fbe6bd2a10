"""The tasks each API key has queued and not yet finished: the bound on a key's queued work.

Per-minute rate limits bound how fast a key adds work, not how much of it waits: with workers
slower than a key's budget its backlog grows without end. So the API *admits* each task it is
about to submit (:meth:`QueuedTasks.admit`): in one atomic script it records who submitted the
task (its ``task:{id}``, :class:`recgen.core.keys.TaskOwner`) and adds the task to the key's set
(``queued:{key name}``), refusing when the key already has ``bound`` tasks there. Whatever runs
the task reports it finished (:meth:`QueuedTasks.finished`): the workers' base task after its
last try, the in-process pool when its future is done. An entry also lapses ``ttl_s`` after
admission, so a task whose end is never reported (its worker killed whole, its message lost)
stops counting by itself instead of blocking its key for ever.
"""

from __future__ import annotations

import logging

import redis

from recgen.core import keys

log = logging.getLogger(__name__)

# KEYS: the key's set (task id -> when the entry lapses, Unix s), the task's owner record.
# ARGV: task id, bound, entry ttl s, owner record (JSON), owner record ttl s.
# Redis's clock, not the API host's: every API server counts against the same one.
_ADMIT_SCRIPT = """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
return 1
"""


class QueuedTasks:
    """Admission and completion of the tasks API keys submit (see the module doc)."""

    def __init__(self, client: redis.Redis[bytes], prefix: str, *, ttl_s: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._admit = client.register_script(_ADMIT_SCRIPT)

    def _key(self, key: str) -> str:
        return keys.prefixed(self._prefix, key)

    def admit(
        self, task_id: str, owner: keys.TaskOwner, *, bound: int, owner_ttl_s: int
    ) -> bool:
        """Count ``task_id`` as queued by ``owner`` and record it as theirs; False (nothing
        written) when the owner already has ``bound`` unfinished tasks."""
        admitted = self._admit(
            keys=[self._key(keys.queued_tasks_key(owner["owner"])),
                  self._key(keys.task_owner_key(task_id))],
            args=[task_id, bound, self._ttl_s, keys.TASK_OWNER.dump_json(owner), owner_ttl_s],
        )
        return bool(admitted)

    def withdraw(self, task_id: str, owner: str) -> None:
        """Undo an admission whose task was never queued (its submission failed)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.zrem(self._key(keys.queued_tasks_key(owner)), task_id)
        pipe.delete(self._key(keys.task_owner_key(task_id)))
        pipe.execute()

    def finished(self, task_id: str) -> None:
        """``task_id`` ended: it no longer counts against its key (its owner record stays, for
        its status). A task no key submitted (beat's, a feed's refresh) has no record."""
        raw = self._client.get(self._key(keys.task_owner_key(task_id)))
        if raw is not None:
            owner = keys.TASK_OWNER.validate_json(raw)["owner"]
            self._client.zrem(self._key(keys.queued_tasks_key(owner)), task_id)
