"""The worker tasks' retry schedule must outlast a short database or Redis outage."""

from __future__ import annotations

from workers.tasks import generate_assets, record_events, refresh_feeds, retry_countdown


def test_retries_wait_out_a_database_restart_whatever_the_draw() -> None:
    # No jitter: with it, each wait is drawn from 0 up, so every retry could come at once.
    for task in (record_events, generate_assets, refresh_feeds):
        waits = [retry_countdown(attempt) for attempt in range(task.max_retries)]
        assert waits == [2, 4, 8], task.name  # 14 s in all
