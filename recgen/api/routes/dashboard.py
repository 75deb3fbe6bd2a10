"""The operator dashboard: a static page (``/dashboard``) and its read-only JSON (admin key).

The page itself holds no data, so it is served without a key; every number it shows comes from
``/v1/dashboard/...``, which needs an ``admin`` key (profiles, histories and experiment reports
are operator data). Images load through the public asset endpoints.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from recgen.api.deps import V1, AdminKey, SessionDep, StateDep
from recgen.api.errors import not_found
from recgen.api.routes.feed import stock_image_url
from recgen.api.schemas import ERRORS, MAX_USER_ID, UserIdPath
from recgen.api.services import dashboard
from recgen.store.repos import activity

STATIC_DIR = FsPath(__file__).resolve().parent.parent / "static"

page = APIRouter(include_in_schema=False)
router = APIRouter(prefix=f"{V1}/dashboard", tags=["dashboard"], responses=ERRORS)


@page.get("/dashboard")
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "dashboard.html", headers={"Cache-Control": "no-cache"})


@router.get("/users", summary="A page of users (keyset: users with id > after_id)")
def users(
    session: SessionDep,
    _key: AdminKey,
    after_id: Annotated[int, Query(ge=0, le=MAX_USER_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    rows = activity.users_page(session, after_id=after_id, limit=limit)
    return {"users": rows, "next_after_id": rows[-1]["user_id"] if len(rows) == limit else None}


@router.get("/users/{user_id}", summary="A user's attributes, profile summary and history")
def user(user_id: UserIdPath, session: SessionDep, _key: AdminKey) -> dict[str, Any]:
    view = dashboard.user_view(session, user_id=user_id)
    if view is None:
        raise not_found(f"no user with id {user_id}", "user_id", "unknown")
    return view


@router.get(
    "/users/{user_id}/feed",
    summary="The user's cached feed with payloads, gates and provenance (not an exposure)",
)
def feed(
    user_id: UserIdPath, session: SessionDep, state: StateDep, _key: AdminKey
) -> dict[str, Any]:
    return dashboard.feed_view(
        session,
        state.cache,
        user_id=user_id,
        experiment=state.experiments.current,
        default_content=state.settings.feed_default_content,
        asset_url=state.signer.url,
        stock_url=stock_image_url,
    )


@router.get("/experiments", summary="Running and recently stopped experiments with reports")
def experiments(session: SessionDep, _key: AdminKey) -> dict[str, Any]:
    return {"experiments": dashboard.experiments_view(session)}


@router.get("/stats", summary="Generation, gate, cache and serving statistics")
def stats(
    session: SessionDep,
    state: StateDep,
    _key: AdminKey,
    hours: Annotated[int, Query(ge=1, le=24 * 14, description="Window for generation stats")] = 24,
) -> dict[str, Any]:
    window = timedelta(hours=hours)
    return {
        "generation": dashboard.generation_stats(session, window=window),
        "cache": state.cache.stats(fresh_within_s=state.settings.feed_max_age_s),
        "serving": state.metrics.serving_totals(),
    }
