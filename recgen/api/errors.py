"""Every error leaves the API as JSON: ``{"error": {"code", "message", "details": [...]}}``.

``details`` lists each problem with ``loc`` (where: ``body.events.3.product_id``) and
``message`` (what), so a client can fix its request without reading server logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import kombu.exceptions
import orjson
import redis
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from recgen.core.errors import RecgenError, StoreUnavailableError


class JsonResponse(Response):
    """JSON via orjson (FastAPI's JsonResponse is deprecated; this is all it did)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """An expected failure with an HTTP status, a stable code and the places it concerns."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = headers


def problem(loc: Sequence[str | int], message: str) -> dict[str, Any]:
    return {"loc": ".".join(str(part) for part in loc), "message": message}


def not_found(message: str, param: str, reason: str) -> ApiError:
    """404 for what the path parameter ``param`` names; ``reason`` is the short detail."""
    return ApiError(404, "not_found", message, [problem(("path", param), reason)])


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    return JsonResponse(body, status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


async def _api_error(_request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    details = [problem(err["loc"], err["msg"]) for err in exc.errors()]
    summary = "; ".join(f"{d['loc']}: {d['message']}" for d in details[:5])
    return error_response(422, "validation_error", f"invalid request: {summary}", details)


async def _http_error(_request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


async def _unavailable(_request: Request, exc: Exception) -> JsonResponse:
    return error_response(503, "unavailable", str(exc), headers={"Retry-After": "5"})


def _dependency_down(what: str) -> Callable[[Request, Exception], Awaitable[JsonResponse]]:
    """503 + Retry-After for a lost connection to ``what``: nothing was committed, so the
    client may retry the same request (a restart or failover is usually over in seconds)."""

    async def handler(_request: Request, exc: Exception) -> JsonResponse:
        return error_response(
            503,
            "unavailable",
            f"{what} is unavailable: {type(exc).__name__}",
            headers={"Retry-After": "5"},
        )

    return handler


async def _internal_error(_request: Request, exc: Exception) -> JsonResponse:
    """Last resort: a bug still answers the API's JSON error, never Starlette's text/plain 500.
    The request's transaction was rolled back (see deps.get_session); Starlette's server error
    middleware re-raises after this response, so the server logs the traceback."""
    return error_response(500, "internal_error",
                          f"internal error ({type(exc).__name__}); nothing was committed")


async def _recgen_error(_request: Request, exc: Exception) -> JsonResponse:
    return error_response(400, "bad_request", str(exc))


_Handler = Callable[[Request, Exception], Awaitable[JsonResponse]]
_redis_down = _dependency_down("Redis")
_database_down = _dependency_down("the database")
# Looked up along the exception's MRO, most specific class first (as Starlette does).
_HANDLERS: dict[type[Exception], _Handler] = {
    ApiError: _api_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
    StoreUnavailableError: _unavailable,
    RecgenError: _recgen_error,
    redis.ConnectionError: _redis_down,
    redis.TimeoutError: _redis_down,
    sqlalchemy.exc.OperationalError: _database_down,
    sqlalchemy.exc.InterfaceError: _database_down,
    kombu.exceptions.OperationalError: _dependency_down("the task broker"),
    Exception: _internal_error,
}


def install_error_handlers(app: FastAPI) -> None:
    for exc_class, handler in _HANDLERS.items():
        app.add_exception_handler(exc_class, handler)


async def handle_error(request: Request, exc: Exception) -> JsonResponse:
    """The response the app's handlers give ``exc``, for code that runs outside FastAPI's
    exception middleware (the feed's fast path); re-raises what no handler but the last
    resort takes, so the server error middleware logs it and answers with that handler."""
    for exc_class in type(exc).__mro__:
        if exc_class is Exception:
            break
        handler = _HANDLERS.get(exc_class)
        if handler is not None:
            return await handler(request, exc)
    raise exc
