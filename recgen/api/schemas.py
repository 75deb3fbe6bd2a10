"""Request and response bodies (pydantic). Limits that depend on settings are checked in
routes; limits fixed by the contract live here so they show in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from recgen.core.types import ARMS
from recgen.runtime.dispatch import ALL_KINDS

Kind = Literal["text", "image"]
EventKind = Literal["view", "click", "add_to_cart", "purchase"]
# users.id is a BIGINT column: larger ids (path, query or body) are refused with a 422.
MAX_USER_ID = 2**63 - 1
Id = Field(ge=1, le=MAX_USER_ID)
# products.id is a 32-bit INTEGER column: a larger id is refused here, not by PostgreSQL (500).
MAX_PRODUCT_ID = 2**31 - 1
ProductId = Annotated[int, Field(ge=1, le=MAX_PRODUCT_ID)]
UserIdPath = Annotated[int, Path(ge=1, le=MAX_USER_ID)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateRequest(Strict):
    user_id: int = Id
    product_ids: list[ProductId] = Field(min_length=1, max_length=100)
    kinds: list[Kind] = Field(default_factory=lambda: list(ALL_KINDS), min_length=1)


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str


class TaskStatus(BaseModel):
    task_id: str
    state: str
    asset_keys: list[str]
    asset_urls: list[str]
    result: Any = None


class Event(Strict):
    event_id: str = Field(min_length=1, max_length=64)
    user_id: int = Id
    product_id: int = Field(ge=1, le=MAX_PRODUCT_ID)
    kind: EventKind
    occurred_at: AwareDatetime | None = None
    exposure_id: str | None = Field(default=None, min_length=1, max_length=64)
    value: float | None = None


class EventBatch(Strict):
    events: list[Event] = Field(min_length=1)


class EventsAccepted(BaseModel):
    accepted: int
    # None when the broker was down: the events were stored directly in SQL and the
    # users' profiles are rebuilt from the log on their next use.
    task_id: str | None


class FeedItemOut(BaseModel):
    product_id: int
    exposure_id: str
    content: Literal["generated", "stock"]
    title: str
    text: str
    text_source: Literal["generated", "stock"]
    image_url: str | None
    image_source: Literal["generated", "stock"] | None


class FeedOut(BaseModel):
    user_id: int
    # degraded: Redis is unreachable; stock content, exposures not logged.
    state: Literal["ready", "refreshing", "degraded"]
    experiment_id: int | None
    arm: str | None
    generated_at: float | None
    model_versions: dict[str, str]
    items: list[FeedItemOut]


class ExperimentCreate(Strict):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    arms: dict[str, float] = Field(default_factory=lambda: {str(a): 0.5 for a in ARMS})
    traffic_share: float = Field(default=1.0, gt=0.0, le=1.0)
    salt: str | None = Field(default=None, min_length=1, max_length=64)


class ExperimentOut(BaseModel):
    id: int
    name: str
    status: str
    salt: str
    traffic_share: float
    arms: dict[str, float]
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class ArmOverride(Strict):
    arm: Literal["stock", "generated"]


class Assignment(BaseModel):
    experiment_id: int
    user_id: int
    arm: str | None
    forced: bool


class ErrorDetail(BaseModel):
    loc: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (401, 403, 404, 409, 413, 422, 429, 503)
}
