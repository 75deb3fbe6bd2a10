"""Annotated dependencies: the app state, a transaction per request, and API-key auth.

Scopes: ``backend`` (generate, tasks, events), ``recommender`` (feed, events), ``admin``
(experiments; implies every other scope). Keys arrive in ``X-API-Key`` or as
``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from recgen.api.errors import ApiError
from recgen.api.state import AppState, Principal
from recgen.store.db import session_scope

# Route modules carry the version prefix themselves (not include_router(prefix=...)) so a
# route's own path is its full template, which the latency metric uses as its label.
V1 = "/v1"


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain def dependency in the thread pool, a hop per request.
    state: AppState = request.app.state.recgen
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back if it raises
    (so a refused request writes nothing)."""
    with session_scope(state.sessions) as session:
        yield session


# scope="function": commit before the response is sent, so a 2xx always means stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def api_key(headers: Mapping[str, str]) -> str | None:
    """The key a request sends in ``X-API-Key`` or as ``Authorization: Bearer <key>``."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(state: AppState, key: str | None, allowed: frozenset[str]) -> Principal:
    """The principal of ``key`` (from :func:`api_key`), if it holds one of ``allowed``;
    else 401/403."""
    if not key:
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send it in the X-API-Key header",
            [{"loc": "header.X-API-Key", "message": "required"}],
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await state.keys.principal(key)
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "unknown or revoked API key",
            [{"loc": "header.X-API-Key", "message": "not a valid key"}],
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not principal.scopes & allowed:
        detail = (
            f"key {principal.name!r} lacks a scope for this endpoint "
            f"(needs one of {sorted(allowed)}, has {sorted(principal.scopes)})"
        )
        if not state.settings.api_verbose_auth_errors:
            detail = f"this key lacks a scope for this endpoint (needs one of {sorted(allowed)})"
        raise ApiError(403, "forbidden", detail)
    return principal


def scopes_for(*scopes: str) -> frozenset[str]:
    return frozenset(scopes) | {"admin"}


def require(*scopes: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting keys that hold any of ``scopes`` (or ``admin``).

    It reads the headers itself instead of depending on FastAPI's APIKeyHeader/HTTPBearer:
    each sub-dependency costs tens of microseconds per request. The OpenAPI security schemes
    are declared by ``document_security`` instead.
    """
    allowed = scopes_for(*scopes)

    async def dependency(request: Request) -> Principal:
        return await authenticate(request.app.state.recgen, api_key(request.headers), allowed)

    dependency.scopes = sorted(allowed)  # type: ignore[attr-defined]
    return dependency


SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}


def document_security(routers: Iterable[APIRouter], schema: dict[str, Any]) -> None:
    """Mark every operation that needs a key (``require`` or ``x-scopes``) in the schema."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            needed = [getattr(d.call, "scopes", None) for d in route.dependant.dependencies]
            # A route that authenticates in its body (the feed) names its scopes itself.
            needed.append((route.openapi_extra or {}).get("x-scopes"))
            scopes = next((s for s in needed if s), None)
            operations = schema["paths"].get(route.path, {})
            for method in (route.methods or set()) if scopes else set():
                operation = operations.get(method.lower())
                if operation is not None:
                    operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
                    operation["x-scopes"] = scopes


BackendKey = Annotated[Principal, Depends(require("backend"))]
EventsKey = Annotated[Principal, Depends(require("backend", "recommender"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
