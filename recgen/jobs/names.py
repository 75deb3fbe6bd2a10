"""Celery task names: the contract between the submitters (API, beat) and the workers."""

from __future__ import annotations

TASK_GENERATE_ASSETS = "recgen.generate_assets"
TASK_REFRESH_FEED = "recgen.refresh_feed"
TASK_REFRESH_FEEDS = "recgen.refresh_feeds"  # one chunk of users: the dedup window
TASK_REFRESH_STALE_FEEDS = "recgen.refresh_stale_feeds"
TASK_RECORD_EVENTS = "recgen.record_events"
