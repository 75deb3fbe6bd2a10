"""Annotated dependencies: the app state, a transaction per request, and API-key auth.

Scopes: ``backend`` (generate, tasks, events), ``recommender`` (feed, events), ``admin``
(experiments; implies every other scope). Keys arrive in ``X-API-Key`` or as
``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from recgen.api.errors import ApiError
from recgen.api.state import AppState, Principal
from recgen.store.db import session_scope

# Route modules carry the version prefix themselves (not include_router(prefix=...)) so a
# route's own path is its full template, which the latency metric uses as its label.
V1 = "/v1"

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def get_state(request: Request) -> AppState:
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


def require(*scopes: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting keys that hold any of ``scopes`` (or ``admin``)."""
    allowed = frozenset(scopes) | {"admin"}

    async def dependency(
        state: StateDep,
        api_key: Annotated[str | None, Depends(_api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        key = api_key or (bearer.credentials if bearer else None)
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
            raise ApiError(
                403,
                "forbidden",
                f"key {principal.name!r} lacks a scope for this endpoint "
                f"(needs one of {sorted(allowed)}, has {sorted(principal.scopes)})",
            )
        return principal

    return dependency


BackendKey = Annotated[Principal, Depends(require("backend"))]
RecommenderKey = Annotated[Principal, Depends(require("recommender", "backend"))]
EventsKey = Annotated[Principal, Depends(require("backend", "recommender"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]
