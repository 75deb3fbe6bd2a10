"""POST /v1/events: batched impressions, clicks, add-to-cart and purchases.

The batch is validated as a whole (nothing is accepted if any event is wrong, and every field is
checked against what the store can hold: see recgen/core/events.py), users first seen here get a
bare user row, and the events go to the workers, which store them idempotently by (API key
name, ``event_id``) and fold them into profiles. Two events of one batch with one id are refused
(422 naming both indices): either could be the one meant, so neither is guessed. When the
broker is down the events are stored in SQL by this request instead (202 with ``task_id:
null``), so an accepted event is never lost.
Outcomes join exposures by ``exposure_id``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kombu.exceptions
import redis
from fastapi import APIRouter
from sqlalchemy.orm import Session

from recgen.api.deps import V1, EventsKey, SessionDep, StateDep
from recgen.api.errors import ApiError, JsonResponse, problem
from recgen.api.schemas import ERRORS, Event, EventBatch, EventsAccepted
from recgen.api.services.tasks import Submission, submission
from recgen.api.state import AppState, Principal
from recgen.core.events import MAX_CLOCK_SKEW, MAX_EVENT_AGE
from recgen.store.repos.experiments import ensure_users
from recgen.store.repos.interactions import add_interactions, stored_event_ids
from recgen.store.repos.products import get_products
from recgen.store.repos.users import forget_user_profiles

log = logging.getLogger(__name__)
router = APIRouter(prefix=V1, tags=["events"])
# What Celery raises when it cannot publish (the broker is Redis here).
BROKER_DOWN = (kombu.exceptions.OperationalError, redis.ConnectionError, redis.TimeoutError)


@router.post(
    "/events",
    status_code=202,
    response_model=EventsAccepted,
    responses=ERRORS,
    summary="Record a batch of interaction events",
)
def post_events(
    batch: EventBatch, state: StateDep, session: SessionDep, key: EventsKey
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
    state.rate.check("events", key.name, cost=len(batch.events))
    now = datetime.now(UTC)
    problems = _time_problems(batch.events, now) + _repeated_ids(batch.events)
    known = get_products(session, product_ids=[e.product_id for e in batch.events])
    problems += [
        problem(("body", "events", i, "product_id"), f"unknown product id {e.product_id}")
        for i, e in enumerate(batch.events)
        if e.product_id not in known
    ]
    if problems:
        raise ApiError(422, "validation_error", f"{len(problems)} invalid event(s)", problems)
    # Admitted before anything is written: past the key's queued tasks, 429 and no rows.
    with submission(state, key, "events") as admitted:
        ensure_users(session, user_ids=[e.user_id for e in batch.events])
        # Commit the user rows before the workers can see the events that reference them.
        session.commit()
        ids = [e.event_id for e in batch.events]
        # Counted now: a resend still in a worker's queue counts as new (stored once anyway).
        duplicates = len(stored_event_ids(session, principal=key.name, event_ids=ids))
        task_id = _submit(state, session, key, batch.events, now, admitted)
    for e in batch.events:
        state.metrics.events_received.labels(e.kind).inc()
    accepted = len(batch.events)
    body = {"accepted": accepted, "new": accepted - duplicates, "duplicates": duplicates,
            "task_id": task_id}
    return JsonResponse(body, status_code=202)


def _submit(
    state: AppState,
    session: Session,
    key: Principal,
    batch: list[Event],
    now: datetime,
    admitted: Submission,
) -> str | None:
    """The events to a worker under the admitted task id; None when the broker is down and
    they were stored in SQL by this request instead."""
    events: list[dict[str, Any]] = [
        {**e.model_dump(exclude={"occurred_at"}), "occurred_at": (e.occurred_at or now).isoformat(),
         "principal": key.name}
        for e in batch
    ]
    try:
        return state.dispatcher.submit_events(events, task_id=admitted.task_id)
    except BROKER_DOWN as exc:
        # Never drop an accepted event: store it in SQL now (idempotent by event_id) and let
        # the users' profiles be rebuilt from the log on next use instead of folded by a worker.
        log.warning("broker unavailable (%s); storing %d events in SQL", exc, len(events))
        admitted.cancel()
        add_interactions(
            session,
            events=[{**e.model_dump(), "occurred_at": e.occurred_at or now, "principal": key.name}
                    for e in batch],
        )
        forget_user_profiles(session, user_ids=[e.user_id for e in batch])
        return None


def _time_problems(events: list[Event], now: datetime) -> list[dict[str, Any]]:
    """``occurred_at`` within [now - MAX_EVENT_AGE, now + MAX_CLOCK_SKEW]: older events are a
    replay of history (and year-1 dates are stored as BC, which cannot be read back)."""
    problems = []
    for i, e in enumerate(events):
        if e.occurred_at is None:
            continue
        loc = ("body", "events", i, "occurred_at")
        try:
            if e.occurred_at > now + MAX_CLOCK_SKEW:
                problems.append(problem(loc, f"is more than {MAX_CLOCK_SKEW} in the future"))
            elif e.occurred_at < now - MAX_EVENT_AGE:
                problems.append(problem(loc, f"is more than {MAX_EVENT_AGE.days} days old"))
        except OverflowError:  # before year 1 in UTC
            problems.append(problem(loc, f"is more than {MAX_EVENT_AGE.days} days old"))
    return problems


def _repeated_ids(events: list[Event]) -> list[dict[str, Any]]:
    """A 422 for each event whose id an earlier event of the batch has, naming both."""
    first: dict[str, int] = {}
    problems = []
    for i, e in enumerate(events):
        if e.event_id in first:
            problems.append(problem(("body", "events", i, "event_id"),
                                    f"repeats the event_id of events[{first[e.event_id]}]"))
        else:
            first[e.event_id] = i
    return problems
