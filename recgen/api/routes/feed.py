"""GET /v1/feed/{user_id}: content per the user's arm, from Redis only, exposures logged."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import Annotated

import orjson
import redis
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from recgen.api.deps import V1, api_key, authenticate, scopes_for
from recgen.api.errors import ApiError, handle_error
from recgen.api.schemas import ERRORS, MAX_USER_ID, FeedOut, UserIdPath
from recgen.api.services.feed import ServedFeed
from recgen.api.state import AppState
from recgen.core.keys import COLD_START_USER, ExposureEntry
from recgen.experiments.assignment import assign
from recgen.experiments.exposures import store_entry

log = logging.getLogger(__name__)
FEED_SCOPES = scopes_for("recommender", "backend")
_LOOKUPS = (("text", "hit"), ("text", "miss"), ("image", "hit"), ("image", "miss"))
router = APIRouter(prefix=V1, tags=["feed"])
DEFAULT_LIMIT = 10


def stock_image_url(product_id: int) -> str:
    return f"/v1/products/{product_id}/image"


def _enqueue(state: AppState, user_id: int, product_ids: list[int] | None) -> None:
    """After the response: a miss must never delay the feed, and a broker outage must not
    fail it (the next miss retries once the per-user lock expires)."""
    try:
        if product_ids is None:
            state.dispatcher.submit_refresh(user_id)
        else:
            state.dispatcher.submit_generation(user_id, product_ids, ("text", "image"))
            state.metrics.generation_requests.labels("feed").inc()
    except Exception:  # the broker is down: logged, retried by a later request
        log.exception("could not enqueue work for user %s", user_id)


def _in_background(state: AppState, user_id: int, product_ids: list[int] | None) -> None:
    # The default executor's thread sends the task; the feed answers without waiting.
    asyncio.get_running_loop().run_in_executor(None, _enqueue, state, user_id, product_ids)


@router.get(
    "/feed/{user_id}",
    response_model=FeedOut,
    responses=ERRORS,
    summary="The user's feed (generated or stock content per experiment arm)",
    openapi_extra={"x-scopes": sorted(FEED_SCOPES)},
)
async def get_feed(
    user_id: UserIdPath,
    request: Request,
    limit: Annotated[
        int, Query(ge=1, description="Items to return (at most feed_max_limit)")
    ] = DEFAULT_LIMIT,
) -> Response:
    # Well-formed requests are answered by FeedFastPath before they get here; this route
    # documents the endpoint and answers the rest with FastAPI's validation errors.
    return await serve_feed(
        request.app.state.recgen, user_id=user_id, limit=limit, key=api_key(request.headers)
    )


class FeedFastPath:
    """ASGI middleware answering a well-formed ``GET /v1/feed/{user_id}[?limit=N]`` itself.

    FastAPI's routing, dependency solving and parameter validation cost about a quarter of a
    feed's API CPU in a profile, for two integers. A request whose path and query match the
    plain form exactly is served here through the same :func:`serve_feed`; anything else (a
    malformed id or limit, other parameters, HEAD) goes on to ``get_feed``, whose validation
    errors and OpenAPI entry stay the endpoint's contract. Installed innermost of the app's
    middleware, so the latency metric, the size limit and the server-error handler still see
    every request, and exceptions get the responses the app's error handlers give them.
    """

    _PATH = re.compile(V1 + r"/feed/([1-9][0-9]{0,18})")
    _QUERY = re.compile(rb"(?:limit=([1-9][0-9]{0,8}))?")

    def __init__(self, app: ASGIApp, state: AppState, route: BaseRoute) -> None:
        self.app = app
        self._state = state
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = self._PATH.fullmatch(scope["path"])
            query = self._QUERY.fullmatch(scope["query_string"])
            user_id = int(path[1]) if path else 0
            if query and 1 <= user_id <= MAX_USER_ID:
                scope["route"] = self._route  # what the latency metric labels requests by
                try:
                    response = await serve_feed(
                        self._state,
                        user_id=user_id,
                        limit=int(query[1] or DEFAULT_LIMIT),
                        key=api_key(Headers(scope=scope)),
                    )
                except Exception as exc:  # answered as the routed path's handlers answer
                    response = await handle_error(Request(scope), exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def serve_feed(state: AppState, *, user_id: int, limit: int, key: str | None) -> Response:
    """The feed response for a validated ``user_id`` and ``limit >= 1``; raises ApiError."""
    principal = await authenticate(state, key, FEED_SCOPES)
    if limit > state.settings.feed_max_limit:
        raise ApiError(
            422,
            "validation_error",
            f"limit must be at most {state.settings.feed_max_limit}",
            [{"loc": "query.limit", "message": f"at most {state.settings.feed_max_limit}"}],
        )
    experiment = state.experiments.current
    arm = assign(experiment, user_id) if experiment is not None else None
    experiment_id = experiment.experiment_id if experiment is not None and arm else None
    content = arm or state.settings.feed_default_content
    # QA overrides are served their arm but their exposures stay out of the analysis.
    forced = experiment is not None and user_id in experiment.forced
    token = secrets.token_hex(8)
    try:
        served = await state.feeds.serve(
            user_id=user_id,
            limit=limit,
            want_generated=content == "generated",
            experiment_id=None if forced else experiment_id,
            arm=arm,
            served_at=time.time(),
            token=token,
        )
        if served is None and not await state.known.has_history(user_id):
            cold = await _cold_start(
                state, user_id, limit, content == "generated", arm, experiment_id,
                None if forced else experiment_id, token,
            )
            return Response(
                cold, media_type="application/json", headers={"Cache-Control": "no-store"}
            )
        claimed = served is None and await state.feeds.claim_refresh(user_id)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # The feed lives in Redis; without it the user still gets products, with stock content.
        log.warning("Redis unavailable, serving stock feed to user %s: %s", user_id, exc)
        degraded = await _degraded(
            state, user_id, limit, arm, experiment_id, None if forced else experiment_id, token
        )
        return Response(
            degraded, media_type="application/json", headers={"Cache-Control": "no-store"}
        )
    if served is None:
        if claimed:
            await _admit_enqueue(state, principal.name, user_id)
            _in_background(state, user_id, None)
        body = {
            "user_id": user_id,
            "state": "refreshing",
            "arm": arm,
            "generated_at": None,
            "experiment_id": experiment_id,
            "model_versions": {},
            "items": [],
        }
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={"Cache-Control": "no-store", "Retry-After": "5"},
        )
    if served.regenerate:
        try:
            await _admit_enqueue(state, principal.name, user_id)
            _in_background(state, user_id, served.regenerate)
        except ApiError:  # over the key's budget: the feed is still served, nothing queued
            log.info("key %s over its feed enqueue limit; not regenerating", principal.name)
    state.recent.remember(user_id, (item.product_id for item in served.items))
    rendered = await _render(state, user_id, arm, experiment_id, served, "ready")
    return Response(rendered, media_type="application/json", headers={"Cache-Control": "no-store"})


async def _cold_start(
    state: AppState,
    user_id: int,
    limit: int,
    want_generated: bool,
    arm: str | None,
    experiment_id: int | None,
    logged_experiment_id: int | None,
    token: str,
) -> bytes:
    """The feed of a user with neither a feed nor stored history: the shared cold-start feed.

    That is the feed of COLD_START_USER, made by the ordinary refresh from the largest
    persona's assets (shared with its members) and stored once; until it is made, stock
    content of the catalog's first products. Nothing is queued for this user: only the shared
    feed's refresh, when it is missing, older than ``feed_max_age_s`` or lacks an asset, and
    at most one per claim period whoever asks (a scan of made-up ids queues one job). It is
    shared, so no key's budgets are charged for it.
    """
    shared = await state.feeds.serve(
        user_id=user_id,
        limit=limit,
        want_generated=want_generated,
        experiment_id=logged_experiment_id,
        arm=arm,
        served_at=time.time(),
        token=token,
        feed_of=COLD_START_USER,
    )
    if shared is None:
        items, entry = await _stock_items(
            state, user_id, await state.stock.default_ids(limit), arm, logged_experiment_id,
            token,
        )
        await state.feeds.log(entry)
        body = _stock_body(user_id, "cold_start", arm, experiment_id, items)
        refresh = await state.feeds.claim_refresh(COLD_START_USER)
    else:
        body = await _render(state, user_id, arm, experiment_id, shared, "cold_start")
        stale = time.time() - shared.generated_at > state.settings.feed_max_age_s
        # A missing asset: the script already took the shared claim (regenerate lists them).
        refresh = bool(shared.regenerate) or (
            stale and await state.feeds.claim_refresh(COLD_START_USER)
        )
    if refresh:
        _in_background(state, COLD_START_USER, None)
    return body


async def _admit_enqueue(state: AppState, key_name: str, user_id: int) -> None:
    """Count one enqueue against the key's feed budget; over it, ApiError(429) and the
    user's refresh claim is released so a later request (within budget) may enqueue."""
    try:
        await run_in_threadpool(state.rate.check, "feed_enqueue", key_name)
    except ApiError:
        await state.feeds.release_refresh(user_id)
        raise


async def _degraded(
    state: AppState,
    user_id: int,
    limit: int,
    arm: str | None,
    experiment_id: int | None,
    logged_experiment_id: int | None,
    token: str,
) -> bytes:
    """Stock content for the user's last served products (else the default products).

    The exposure stream is in Redis too, so the exposures go straight to SQL (one small
    transaction; outages are rare): content "stock" under the user's arm, as the serving
    script logs a generated-arm item whose asset is missing.
    """
    recent = state.recent.get(user_id)
    product_ids = list(recent[:limit]) if recent else await state.stock.default_ids(limit)
    items, entry = await _stock_items(
        state, user_id, product_ids, arm, logged_experiment_id, token
    )
    try:
        await run_in_threadpool(store_entry, state.sessions, entry)
    except Exception:  # the database is down too: the user still gets the stock feed
        log.exception("could not log %d exposures of a degraded feed", len(items))
    return _stock_body(user_id, "degraded", arm, experiment_id, items)


async def _stock_items(
    state: AppState,
    user_id: int,
    product_ids: list[int],
    arm: str | None,
    logged_experiment_id: int | None,
    token: str,
) -> tuple[list[dict[str, object]], ExposureEntry]:
    """Stock content of ``product_ids`` (unknown ones skipped) and its exposure entry."""
    stock = await state.stock.items(product_ids)
    items: list[dict[str, object]] = []
    shown: list[tuple[str, int, str, str | None]] = []
    for i, pid in enumerate(p for p in product_ids if p in stock):
        product = stock[pid]
        image_url = stock_image_url(pid) if product.has_image else None
        exposure_id = f"{token}-{i + 1}"
        shown.append((exposure_id, pid, "stock", None))
        items.append(
            {
                "product_id": pid,
                "exposure_id": exposure_id,
                "content": "stock",
                "title": product.title,
                "text": product.text,
                "text_source": "stock",
                "image_url": image_url,
                "image_source": "stock" if image_url else None,
            }
        )
    state.metrics.feed_items.labels("stock").inc(len(items))
    entry: ExposureEntry = {
        "u": user_id,
        "e": logged_experiment_id,
        "a": arm,
        "t": time.time(),
        "i": shown,
    }
    return items, entry


def _stock_body(
    user_id: int,
    feed_state: str,
    arm: str | None,
    experiment_id: int | None,
    items: list[dict[str, object]],
) -> bytes:
    body = {
        "user_id": user_id,
        "state": feed_state,
        "experiment_id": experiment_id,
        "arm": arm,
        "generated_at": None,
        "model_versions": {},
        "items": items,
    }
    return orjson.dumps(body)


async def _render(
    state: AppState,
    user_id: int,
    arm: str | None,
    experiment_id: int | None,
    served: ServedFeed,
    feed_state: str,
) -> bytes:
    stock = await state.stock.items(item.product_id for item in served.items)
    items = []
    generated = 0
    text_rejected = image_rejected = 0
    for item in served.items:
        product = stock.get(item.product_id)
        title = product.title if product else ""
        stock_text = product.text if product else ""
        if item.image_key:
            image_url: str | None = state.signer.url(item.image_key)
        else:
            image_url = stock_image_url(item.product_id) if product and product.has_image else None
        is_generated = bool(item.text or item.image_key)
        generated += is_generated
        text_rejected += item.text_rejected
        image_rejected += item.image_rejected
        items.append(
            {
                "product_id": item.product_id,
                "exposure_id": item.exposure_id,
                "content": "generated" if is_generated else "stock",
                "title": title,
                "text": item.text or stock_text,
                "text_source": "generated" if item.text else "stock",
                "image_url": image_url,
                "image_source": ("generated" if item.image_key else "stock") if image_url else None,
            }
        )
    metrics = state.metrics
    for lookup, n in zip(_LOOKUPS, served.lookups, strict=True):
        if n:
            metrics.lookup_child[lookup].inc(n)
    for content, n in (("generated", generated), ("stock", len(items) - generated)):
        if n:
            metrics.items_child[content].inc(n)
    for kind, n in (("text", text_rejected), ("image", image_rejected)):
        if n:
            metrics.rejection_child[kind].inc(n)
    return orjson.dumps(
        {
            "user_id": user_id,
            "state": feed_state,
            "experiment_id": experiment_id,
            "arm": arm,
            "generated_at": served.generated_at,
            "model_versions": served.model_versions,
            "items": items,
        }
    )
