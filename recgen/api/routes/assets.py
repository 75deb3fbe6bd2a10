"""GET /v1/assets/{key} (generated PNG or text) and GET /v1/products/{id}/image (stock photo).

Assets are immutable per key (the key carries the model version and owner), so the ETag is a
hash of the bytes and clients may cache them for a day.
"""

from __future__ import annotations

import hashlib
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from recgen.api.deps import V1, StateDep, api_key, authenticate, scopes_for
from recgen.api.errors import ApiError, not_found
from recgen.api.redis_deadline import redis_call
from recgen.api.schemas import ERRORS, MAX_PRODUCT_ID
from recgen.core import keys

router = APIRouter(prefix=V1, tags=["assets"])
CACHE_CONTROL = "public, max-age=86400, immutable"
# Server-side callers may fetch an asset with their API key instead of the URL's token.
ASSET_SCOPES = scopes_for("recommender", "backend")


def _conditional(request: Request, payload: bytes, media_type: str) -> Response:
    etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type=media_type, headers=headers)


@router.get(
    "/assets/{key:path}",
    responses={200: {"content": {"image/png": {}, "text/plain": {}}}, **ERRORS},
    response_class=Response,
    summary="A generated asset by cache key",
)
async def get_asset(
    key: Annotated[str, Path(min_length=1, max_length=keys.MAX_KEY_LENGTH)],
    request: Request,
    state: StateDep,
    t: Annotated[
        str | None, Query(max_length=64, description="The token of the asset's URL")
    ] = None,
) -> Response:
    kind = keys.asset_kind(key)
    if kind is None:
        raise not_found(
            f"{key!r} is not the key of a text or image asset", "key", "not an asset key"
        )
    if not state.signer.valid(key, t):
        sent = api_key(request.headers)
        if sent is None:
            raise ApiError(
                403,
                "forbidden",
                "an asset is served only by the URL the API handed out (its token t is "
                "missing or wrong) or with an API key",
                [{"loc": "query.t", "message": "missing or wrong" if t else "required"}],
            )
        await authenticate(state, sent, ASSET_SCOPES)
    payload = await redis_call(
        state.redis_async.get(keys.prefixed(state.settings.cache_prefix, key)),
        state.settings.api_redis_timeout_seconds,
    )
    if payload is None:
        raise not_found(
            f"asset {key!r} is not in the cache (expired or never made)", "key", "not cached"
        )
    media = "image/png" if kind == "image" else "text/plain; charset=utf-8"
    return _conditional(request, payload, media)


@router.get(
    "/products/{product_id}/image",
    responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
    response_class=Response,
    summary="A product's stock photo",
)
async def stock_image(
    product_id: Annotated[int, Path(ge=1, le=MAX_PRODUCT_ID)], request: Request, state: StateDep
) -> Response:
    path = await run_in_threadpool(state.stock.image_path, product_id)
    if not path:
        raise not_found(f"product {product_id} has no stock photo", "product_id", "no photo")
    file = FsPath(path)
    if not file.is_absolute():
        file = state.settings.data_dir / "myntra" / "images" / file.name
    try:
        payload = await run_in_threadpool(file.read_bytes)
    except OSError as exc:
        raise not_found(
            f"stock photo of product {product_id} is unreadable", "product_id", "photo file missing"
        ) from exc
    return _conditional(request, payload, "image/jpeg")
