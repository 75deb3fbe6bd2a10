"""The worker tasks' retry schedule must outlast a short database or Redis outage."""

from __future__ import annotations

from celery.utils.time import get_exponential_backoff_interval

from workers.tasks import RETRY_OPTIONS, generate_assets, record_events, refresh_feeds


def test_retries_wait_out_a_database_restart_whatever_the_draw() -> None:
    # With jitter, each wait is drawn from 0 up, so every retry could come at once.
    assert RETRY_OPTIONS["retry_jitter"] is False
    for task in (record_events, generate_assets, refresh_feeds):
        waits = [get_exponential_backoff_interval(
            RETRY_OPTIONS["retry_backoff"], attempt, RETRY_OPTIONS["retry_backoff_max"],
            full_jitter=RETRY_OPTIONS["retry_jitter"]) for attempt in range(task.max_retries)]
        assert waits == [2, 4, 8], task.name  # 14 s in all
