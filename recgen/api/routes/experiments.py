"""Experiments (admin): create, list, start, stop, QA overrides, assignment lookup, report."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from recgen.api.deps import V1, AdminKey, SessionDep, StateDep
from recgen.api.errors import ApiError, not_found, problem
from recgen.api.schemas import (
    ERRORS,
    ArmOverride,
    Assignment,
    ExperimentCreate,
    ExperimentOut,
    UserIdPath,
)
from recgen.experiments.analysis import UserOutcomes, build_report
from recgen.experiments.assignment import assign, validate_arms
from recgen.store.models import ExperimentRow, utcnow
from recgen.store.repos import experiments as repo

router = APIRouter(prefix=f"{V1}/experiments", tags=["experiments"], responses=ERRORS)
ExperimentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _out(row: ExperimentRow) -> ExperimentOut:
    return ExperimentOut.model_validate(row, from_attributes=True)


def _load(session: Session, experiment_id: int) -> ExperimentRow:
    row = repo.get_experiment(session, experiment_id=experiment_id)
    if row is None:
        raise not_found(f"no experiment with id {experiment_id}", "experiment_id", "unknown")
    return row


@router.post("", status_code=201, response_model=ExperimentOut, summary="Create (as draft)")
def create(body: ExperimentCreate, session: SessionDep, _key: AdminKey) -> ExperimentOut:
    try:
        arms = validate_arms(body.arms)
    except ValueError as exc:
        raise ApiError(
            422, "validation_error", str(exc), [problem(("body", "arms"), str(exc))]
        ) from exc
    if repo.get_experiment_by_name(session, name=body.name) is not None:
        raise ApiError(
            409,
            "conflict",
            f"an experiment named {body.name!r} exists",
            [problem(("body", "name"), "taken")],
        )
    row = repo.create_experiment(
        session,
        name=body.name,
        salt=body.salt or secrets.token_hex(8),
        arms=arms,
        traffic_share=body.traffic_share,
    )
    return _out(row)


@router.get("", response_model=list[ExperimentOut], summary="List experiments")
def list_all(session: SessionDep, _key: AdminKey) -> list[ExperimentOut]:
    return [_out(row) for row in repo.list_experiments(session)]


@router.get("/{experiment_id}", response_model=ExperimentOut, summary="One experiment")
def get_one(experiment_id: ExperimentId, session: SessionDep, _key: AdminKey) -> ExperimentOut:
    return _out(_load(session, experiment_id))


@router.post("/{experiment_id}/start", response_model=ExperimentOut, summary="Start a draft")
def start(
    experiment_id: ExperimentId, session: SessionDep, state: StateDep, _key: AdminKey
) -> ExperimentOut:
    row = _load(session, experiment_id)
    if row.status != "draft":
        raise ApiError(409, "conflict", f"experiment {row.id} is {row.status}, not draft")
    running = repo.running_experiment(session)
    if running is not None:
        raise ApiError(
            409,
            "conflict",
            f"experiment {running.id} ({running.name!r}) is running; stop it first "
            "(one experiment at a time decides generated vs stock content)",
        )
    repo.start_experiment(session, experiment=row, at=utcnow())
    session.commit()
    state.experiments.refresh()
    return _out(row)


@router.post("/{experiment_id}/stop", response_model=ExperimentOut, summary="Stop a running one")
def stop(
    experiment_id: ExperimentId, session: SessionDep, state: StateDep, _key: AdminKey
) -> ExperimentOut:
    row = _load(session, experiment_id)
    if row.status != "running":
        raise ApiError(409, "conflict", f"experiment {row.id} is {row.status}, not running")
    repo.stop_experiment(session, experiment=row, at=utcnow())
    session.commit()
    state.experiments.refresh()
    return _out(row)


@router.put(
    "/{experiment_id}/overrides/{user_id}",
    response_model=Assignment,
    summary="Force a (QA) user into an arm; their exposures stay out of the report",
)
def force(
    experiment_id: ExperimentId,
    user_id: UserIdPath,
    body: ArmOverride,
    session: SessionDep,
    state: StateDep,
    _key: AdminKey,
) -> Assignment:
    row = _load(session, experiment_id)
    if body.arm not in row.arms:
        raise ApiError(
            422,
            "validation_error",
            f"experiment {row.id} has no arm {body.arm!r}",
            [problem(("body", "arm"), f"one of {sorted(row.arms)}")],
        )
    repo.force_assignment(session, experiment_id=row.id, user_id=user_id, arm=body.arm)
    session.commit()
    state.experiments.refresh()
    return Assignment(experiment_id=row.id, user_id=user_id, arm=body.arm, forced=True)


@router.get(
    "/{experiment_id}/assignments/{user_id}",
    response_model=Assignment,
    summary="The arm a user gets (null: outside the traffic share)",
)
def assignment(
    experiment_id: ExperimentId, user_id: UserIdPath, session: SessionDep, _key: AdminKey
) -> Assignment:
    config = repo.experiment_config(session, experiment=_load(session, experiment_id))
    return Assignment(
        experiment_id=experiment_id,
        user_id=user_id,
        arm=assign(config, user_id),
        forced=user_id in config.forced,
    )


@router.get("/{experiment_id}/report", summary="Per-arm rates, lift, p-value, SRM and CUPED")
def report(
    experiment_id: ExperimentId,
    session: SessionDep,
    _key: AdminKey,
    level: Annotated[float, Query(gt=0.5, lt=1.0, description="Confidence level")] = 0.95,
) -> dict[str, Any]:
    row = _load(session, experiment_id)
    config = repo.experiment_config(session, experiment=row)
    rows = repo.user_outcomes(session, experiment_id=row.id, pre_period_end=row.started_at)
    return build_report(config, UserOutcomes.from_rows(rows), level=level)
