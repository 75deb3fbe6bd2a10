"""POST /v1/generate (202 + task id, Idempotency-Key honoured) and GET /v1/tasks/{id}."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Path

from recgen.api.deps import V1, BackendKey, SessionDep, StateDep
from recgen.api.errors import ApiError, JsonResponse, not_found, problem
from recgen.api.schemas import ERRORS, GenerateRequest, TaskAccepted, TaskStatus
from recgen.api.services.tasks import FAILURE_MESSAGES, owned_task, submission
from recgen.api.state import AppState, Principal
from recgen.core import keys
from recgen.store.repos.products import get_products

router = APIRouter(prefix=V1, tags=["generation"])

# An Idempotency-Key is remembered this long (a client retries within minutes, not days).
IDEMPOTENCY_TTL_S = 24 * 3600
_IN_FLIGHT = b"in-flight"


@router.post(
    "/generate",
    status_code=202,
    response_model=TaskAccepted,
    responses=ERRORS,
    summary="Enqueue generation of a user's assets for some products",
)
def generate(
    request: GenerateRequest,
    state: StateDep,
    session: SessionDep,
    principal: BackendKey,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=128, description="Retry-safe request id")
    ] = None,
) -> JsonResponse:
    state.rate.check("generate", principal.name)
    known = get_products(session, product_ids=request.product_ids)
    unknown = [
        problem(("body", "product_ids", i), f"unknown product id {pid}")
        for i, pid in enumerate(request.product_ids)
        if pid not in known
    ]
    if unknown:
        raise ApiError(422, "validation_error", "some product ids are not in the catalog", unknown)
    if idempotency_key is None:
        return _accepted(_submit(state, request, principal))
    slot = keys.prefixed(
        state.settings.cache_prefix, keys.idempotency_key(principal.name, idempotency_key)
    )
    fingerprint = hashlib.sha256(request.model_dump_json().encode()).hexdigest()
    claim: keys.IdempotencyClaim = {"fp": fingerprint, "task": None}
    claimed = state.redis_sync.set(
        slot, keys.IDEMPOTENCY_CLAIM.dump_json(claim), nx=True, ex=IDEMPOTENCY_TTL_S
    )
    if not claimed:
        return _replay(state.redis_sync.get(slot), fingerprint, idempotency_key)
    try:
        task_id = _submit(state, request, principal)
    except BaseException:
        state.redis_sync.delete(slot)  # let the client retry with the same key
        raise
    done: keys.IdempotencyClaim = {"fp": fingerprint, "task": task_id}
    state.redis_sync.set(slot, keys.IDEMPOTENCY_CLAIM.dump_json(done), ex=IDEMPOTENCY_TTL_S)
    return _accepted(task_id)


def _submit(state: AppState, request: GenerateRequest, principal: Principal) -> str:
    with submission(state, principal, "generate") as admitted:
        state.dispatcher.submit_generation(
            request.user_id, request.product_ids, request.kinds, task_id=admitted.task_id
        )
    state.metrics.generation_requests.labels("api").inc()
    return admitted.task_id


def _accepted(task_id: str) -> JsonResponse:
    return JsonResponse(
        {"task_id": task_id, "status_url": f"/v1/tasks/{task_id}"},
        status_code=202,
        headers={"Location": f"/v1/tasks/{task_id}"},
    )


def _replay(raw: bytes | None, fingerprint: str, key: str) -> JsonResponse:
    stored = keys.IDEMPOTENCY_CLAIM.validate_json(raw) if raw else None
    if stored is None or stored["task"] is None:
        raise ApiError(
            409,
            "conflict",
            f"a request with Idempotency-Key {key!r} is still being processed; retry shortly",
            [{"loc": "header.Idempotency-Key", "message": "in flight"}],
            headers={"Retry-After": "1"},
        )
    if stored["fp"] != fingerprint:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was used for a different request body",
            [{"loc": "header.Idempotency-Key", "message": "reused with another body"}],
        )
    return _accepted(stored["task"])


@router.get(
    "/tasks/{task_id}", response_model=TaskStatus, responses=ERRORS, summary="A task's state"
)
def task_status(
    task_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")],
    state: StateDep,
    principal: BackendKey,
) -> TaskStatus:
    owner = owned_task(state, task_id, principal)
    if owner is None:
        # Never submitted, expired, or another key's: the same answer, so ids cannot be probed.
        raise not_found(f"no task {task_id} for this API key", "task_id", "unknown")
    status, result = state.dispatcher.task_status(task_id)
    if status == "FAILURE":
        result = FAILURE_MESSAGES[owner["kind"]]
    keys = []
    if status == "SUCCESS" and isinstance(result, dict):
        for item in result.get("items", []):
            keys += [k for k in (item.get("text_key"), item.get("image_key")) if k]
    return TaskStatus(
        task_id=task_id,
        state=status,
        asset_keys=keys,
        asset_urls=[state.signer.url(k) for k in keys],
        result=result,
    )
