"""Test doubles for the API tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class RecordingDispatcher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.statuses: dict[str, tuple[str, Any]] = {}

    def _record(self, name: str, payload: Any, task_id: str | None = None) -> str:
        self.calls.append((name, payload))
        return task_id or f"task-{len(self.calls)}"

    def submit_generation(
        self,
        user_id: int,
        product_ids: Sequence[int],
        kinds: Sequence[str] = ("text", "image"),
        *,
        task_id: str | None = None,
    ) -> str:
        return self._record("generate", (user_id, list(product_ids), list(kinds)), task_id)

    def submit_refresh(self, user_id: int) -> str:
        return self._record("refresh", user_id)

    def submit_events(
        self, events: Sequence[Mapping[str, Any]], *, task_id: str | None = None
    ) -> str:
        return self._record("events", [dict(e) for e in events], task_id)

    def task_status(self, task_id: str) -> tuple[str, Any]:
        return self.statuses.get(task_id, ("PENDING", None))

    def named(self, name: str) -> list[Any]:
        return [payload for n, payload in self.calls if n == name]
