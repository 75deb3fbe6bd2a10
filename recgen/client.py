"""Typed Python client for the recgen API, sync (:class:`Client`) and async (:class:`AsyncClient`).

Both clients build the same requests (:class:`_Call`) and parse the same responses; they differ
only in how a request is sent. Errors raise :class:`ApiClientError` with the API's error code,
message and per-field details.

    with Client("http://127.0.0.1:8000", api_key=KEY) as api:
        task = api.generate(7, [15970, 39386], idempotency_key="order-42")
        feed = api.feed(7, limit=10)
        api.send_events([Event("e-1", 7, feed.items[0].product_id, "click",
                               exposure_id=feed.items[0].exposure_id)])

The client depends on httpx only (not on the server's code), so a backend can vendor it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar
from urllib.parse import quote

import httpx

T = TypeVar("T")
EventKind = Literal["view", "click", "add_to_cart", "purchase"]


class ApiClientError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict[str, str]]):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class TaskAccepted:
    task_id: str
    status_url: str


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_id: str
    state: str
    asset_keys: list[str]
    asset_urls: list[str]
    result: Any = None


@dataclass(frozen=True, slots=True)
class FeedItem:
    product_id: int
    exposure_id: str
    content: str
    title: str
    text: str
    text_source: str
    image_url: str | None
    image_source: str | None


@dataclass(frozen=True, slots=True)
class Feed:
    user_id: int
    state: str
    experiment_id: int | None
    arm: str | None
    generated_at: float | None
    model_versions: dict[str, str]
    items: list[FeedItem]

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Feed:
        return cls(**{**body, "items": [FeedItem(**item) for item in body["items"]]})


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    user_id: int
    product_id: int
    kind: EventKind
    exposure_id: str | None = None
    occurred_at: datetime | None = None
    value: float | None = None

    def to_json(self) -> dict[str, Any]:
        body = {k: v for k, v in asdict(self).items() if v is not None}
        if self.occurred_at is not None:
            body["occurred_at"] = self.occurred_at.isoformat()
        return body


@dataclass(frozen=True, slots=True)
class EventsAccepted:
    accepted: int
    # Of the accepted: ids this key had not sent before, and resends already stored.
    new: int
    duplicates: int
    # None when the broker was down and the events were stored in SQL by the request.
    task_id: str | None


@dataclass(frozen=True, slots=True)
class Experiment:
    id: int
    name: str
    status: str
    salt: str
    traffic_share: float
    arms: dict[str, float]
    created_at: str
    started_at: str | None
    stopped_at: str | None


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment_id: int
    user_id: int
    arm: str | None
    forced: bool


@dataclass(frozen=True)
class _Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Error statuses whose body is still the answer (readiness: 503 lists the failed checks).
    accept: frozenset[int] = frozenset()


def _json(kind: Callable[..., T]) -> Callable[[httpx.Response], T]:
    return lambda response: kind(**response.json())


def _raw(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body


def _check(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        raise ApiClientError(
            response.status_code, error["code"], error["message"], error.get("details", [])
        )
    except (ValueError, KeyError, TypeError):
        raise ApiClientError(response.status_code, "error", response.text[:500], []) from None


class _Calls:
    """Every endpoint as a request description; shared by the sync and async clients."""

    @staticmethod
    def generate(
        user_id: int, product_ids: Sequence[int], kinds: Sequence[str], key: str | None
    ) -> _Call[TaskAccepted]:
        body = {"user_id": user_id, "product_ids": list(product_ids), "kinds": list(kinds)}
        headers = {"Idempotency-Key": key} if key else {}
        return _Call("POST", "/v1/generate", _json(TaskAccepted), body=body, headers=headers)

    @staticmethod
    def task(task_id: str) -> _Call[TaskStatus]:
        return _Call("GET", f"/v1/tasks/{quote(task_id)}", _json(TaskStatus))

    @staticmethod
    def feed(user_id: int, limit: int) -> _Call[Feed]:
        return _Call(
            "GET", f"/v1/feed/{user_id}", lambda r: Feed.from_json(r.json()), {"limit": limit}
        )

    @staticmethod
    def asset(key_or_url: str) -> _Call[bytes]:
        path = key_or_url if key_or_url.startswith("/") else "/v1/assets/" + quote(key_or_url)
        return _Call("GET", path, lambda r: r.content)

    @staticmethod
    def events(events: Sequence[Event]) -> _Call[EventsAccepted]:
        body = {"events": [e.to_json() for e in events]}
        return _Call("POST", "/v1/events", _json(EventsAccepted), body=body)

    @staticmethod
    def create_experiment(
        name: str, arms: Mapping[str, float] | None, traffic_share: float, salt: str | None
    ) -> _Call[Experiment]:
        body: dict[str, Any] = {"name": name, "traffic_share": traffic_share}
        if arms is not None:
            body["arms"] = dict(arms)
        if salt is not None:
            body["salt"] = salt
        return _Call("POST", "/v1/experiments", _json(Experiment), body=body)

    @staticmethod
    def experiment_action(experiment_id: int, action: str) -> _Call[Experiment]:
        return _Call("POST", f"/v1/experiments/{experiment_id}/{action}", _json(Experiment))

    @staticmethod
    def experiments() -> _Call[list[Experiment]]:
        return _Call("GET", "/v1/experiments", lambda r: [Experiment(**e) for e in r.json()])

    @staticmethod
    def force_arm(experiment_id: int, user_id: int, arm: str) -> _Call[Assignment]:
        path = f"/v1/experiments/{experiment_id}/overrides/{user_id}"
        return _Call("PUT", path, _json(Assignment), body={"arm": arm})

    @staticmethod
    def assignment(experiment_id: int, user_id: int) -> _Call[Assignment]:
        path = f"/v1/experiments/{experiment_id}/assignments/{user_id}"
        return _Call("GET", path, _json(Assignment))

    @staticmethod
    def report(experiment_id: int, level: float) -> _Call[dict[str, Any]]:
        path = f"/v1/experiments/{experiment_id}/report"
        return _Call("GET", path, _raw, {"level": level})

    @staticmethod
    def ready() -> _Call[dict[str, Any]]:
        # 503 still carries the per-check body: return it rather than raise.
        return _Call("GET", "/health/ready", _raw, accept=frozenset({503}))


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


class Client:
    """Synchronous client; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    def _send(self, call: _Call[T]) -> T:
        response = self._http.request(
            call.method, call.path, params=call.params, json=call.body, headers=call.headers
        )
        if response.status_code not in call.accept:
            _check(response)
        return call.parse(response)

    def generate(
        self,
        user_id: int,
        product_ids: Sequence[int],
        kinds: Sequence[str] = ("text", "image"),
        *,
        idempotency_key: str | None = None,
    ) -> TaskAccepted:
        return self._send(_Calls.generate(user_id, product_ids, kinds, idempotency_key))

    def task(self, task_id: str) -> TaskStatus:
        return self._send(_Calls.task(task_id))

    def feed(self, user_id: int, *, limit: int = 10) -> Feed:
        return self._send(_Calls.feed(user_id, limit))

    def asset(self, key_or_url: str) -> bytes:
        return self._send(_Calls.asset(key_or_url))

    def send_events(self, events: Sequence[Event]) -> EventsAccepted:
        return self._send(_Calls.events(events))

    def create_experiment(
        self,
        name: str,
        *,
        arms: Mapping[str, float] | None = None,
        traffic_share: float = 1.0,
        salt: str | None = None,
    ) -> Experiment:
        return self._send(_Calls.create_experiment(name, arms, traffic_share, salt))

    def start_experiment(self, experiment_id: int) -> Experiment:
        return self._send(_Calls.experiment_action(experiment_id, "start"))

    def stop_experiment(self, experiment_id: int) -> Experiment:
        return self._send(_Calls.experiment_action(experiment_id, "stop"))

    def experiments(self) -> list[Experiment]:
        return self._send(_Calls.experiments())

    def force_arm(self, experiment_id: int, user_id: int, arm: str) -> Assignment:
        return self._send(_Calls.force_arm(experiment_id, user_id, arm))

    def assignment(self, experiment_id: int, user_id: int) -> Assignment:
        return self._send(_Calls.assignment(experiment_id, user_id))

    def report(self, experiment_id: int, *, level: float = 0.95) -> dict[str, Any]:
        return self._send(_Calls.report(experiment_id, level))

    def ready(self) -> dict[str, Any]:
        return self._send(_Calls.ready())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """Asynchronous client with the same methods as :class:`Client`, awaited."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout, transport=transport
        )

    async def _send(self, call: _Call[T]) -> T:
        response = await self._http.request(
            call.method, call.path, params=call.params, json=call.body, headers=call.headers
        )
        if response.status_code not in call.accept:
            _check(response)
        return call.parse(response)

    async def generate(
        self,
        user_id: int,
        product_ids: Sequence[int],
        kinds: Sequence[str] = ("text", "image"),
        *,
        idempotency_key: str | None = None,
    ) -> TaskAccepted:
        return await self._send(_Calls.generate(user_id, product_ids, kinds, idempotency_key))

    async def task(self, task_id: str) -> TaskStatus:
        return await self._send(_Calls.task(task_id))

    async def feed(self, user_id: int, *, limit: int = 10) -> Feed:
        return await self._send(_Calls.feed(user_id, limit))

    async def asset(self, key_or_url: str) -> bytes:
        return await self._send(_Calls.asset(key_or_url))

    async def send_events(self, events: Sequence[Event]) -> EventsAccepted:
        return await self._send(_Calls.events(events))

    async def create_experiment(
        self,
        name: str,
        *,
        arms: Mapping[str, float] | None = None,
        traffic_share: float = 1.0,
        salt: str | None = None,
    ) -> Experiment:
        return await self._send(_Calls.create_experiment(name, arms, traffic_share, salt))

    async def start_experiment(self, experiment_id: int) -> Experiment:
        return await self._send(_Calls.experiment_action(experiment_id, "start"))

    async def stop_experiment(self, experiment_id: int) -> Experiment:
        return await self._send(_Calls.experiment_action(experiment_id, "stop"))

    async def experiments(self) -> list[Experiment]:
        return await self._send(_Calls.experiments())

    async def force_arm(self, experiment_id: int, user_id: int, arm: str) -> Assignment:
        return await self._send(_Calls.force_arm(experiment_id, user_id, arm))

    async def assignment(self, experiment_id: int, user_id: int) -> Assignment:
        return await self._send(_Calls.assignment(experiment_id, user_id))

    async def report(self, experiment_id: int, *, level: float = 0.95) -> dict[str, Any]:
        return await self._send(_Calls.report(experiment_id, level))

    async def ready(self) -> dict[str, Any]:
        return await self._send(_Calls.ready())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.aclose()
