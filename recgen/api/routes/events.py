"""POST /v1/events: batched impressions, clicks, add-to-cart and purchases.

The batch is validated as a whole (nothing is accepted if any event is wrong), users first seen
here get a bare user row, and the events go to the workers, which store them idempotently by
``event_id`` and fold them into profiles. When the broker is down the events are stored in SQL
by this request instead (202 with ``task_id: null``), so an accepted event is never lost.
Outcomes join exposures by ``exposure_id``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu.exceptions
import redis
from fastapi import APIRouter

from recgen.api.deps import V1, EventsKey, SessionDep, StateDep
from recgen.api.errors import ApiError, JsonResponse, problem
from recgen.api.schemas import ERRORS, EventBatch, EventsAccepted
from recgen.store.repos.experiments import ensure_users
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.products import get_products
from recgen.store.repos.users import forget_user_profiles

log = logging.getLogger(__name__)
router = APIRouter(prefix=V1, tags=["events"])
# What Celery raises when it cannot publish (the broker is Redis here).
BROKER_DOWN = (kombu.exceptions.OperationalError, redis.ConnectionError, redis.TimeoutError)
# Clocks drift; an event from further in the future than this is a client bug.
MAX_CLOCK_SKEW = timedelta(minutes=5)


@router.post(
    "/events",
    status_code=202,
    response_model=EventsAccepted,
    responses=ERRORS,
    summary="Record a batch of interaction events",
)
def post_events(
    batch: EventBatch, state: StateDep, session: SessionDep, principal: EventsKey
) -> JsonResponse:
    limit = state.settings.api_max_events_per_batch
    if len(batch.events) > limit:
        raise ApiError(
            422,
            "validation_error",
            f"a batch holds at most {limit} events, got {len(batch.events)}",
            [problem(("body", "events"), f"at most {limit} events")],
        )
    # Each event creates work (a row, a profile fold): a batch costs its events.
    state.rate.check("events", principal.name, cost=len(batch.events))
    now = datetime.now(UTC)
    problems = [
        problem(("body", "events", i, "occurred_at"), "is in the future")
        for i, e in enumerate(batch.events)
        if e.occurred_at is not None and e.occurred_at > now + MAX_CLOCK_SKEW
    ]
    known = get_products(session, product_ids=[e.product_id for e in batch.events])
    problems += [
        problem(("body", "events", i, "product_id"), f"unknown product id {e.product_id}")
        for i, e in enumerate(batch.events)
        if e.product_id not in known
    ]
    if problems:
        raise ApiError(422, "validation_error", f"{len(problems)} invalid event(s)", problems)
    ensure_users(session, user_ids=[e.user_id for e in batch.events])
    # Commit the user rows before the workers can see the events that reference them.
    session.commit()
    events: list[dict[str, Any]] = [
        {**e.model_dump(exclude={"occurred_at"}), "occurred_at": (e.occurred_at or now).isoformat()}
        for e in batch.events
    ]
    try:
        task_id: str | None = state.dispatcher.submit_events(events)
    except BROKER_DOWN as exc:
        # Never drop an accepted event: store it in SQL now (idempotent by event_id) and let
        # the users' profiles be rebuilt from the log on next use instead of folded by a worker.
        log.warning("broker unavailable (%s); storing %d events in SQL", exc, len(events))
        add_interactions(
            session,
            events=[{**e.model_dump(), "occurred_at": e.occurred_at or now} for e in batch.events],
        )
        forget_user_profiles(session, user_ids=[e.user_id for e in batch.events])
        task_id = None
    for e in batch.events:
        state.metrics.events_received.labels(e.kind).inc()
    return JsonResponse({"accepted": len(events), "task_id": task_id}, status_code=202)
