"""Request and response bodies (pydantic). Limits that depend on settings are checked in
routes; limits fixed by the contract live here so they show in the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from recgen.core.events import MAX_ID_CHARS, MAX_VALUE, TEXT_ID_PATTERN
from recgen.core.types import ARMS, Content
from recgen.experiments.assignment import MAX_ARM_WEIGHT
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


# Text ids: what a VARCHAR(64) holds and a client can mean (no NUL, no control characters).
TextId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=TEXT_ID_PATTERN)]


class Event(Strict):
    """One event. ``occurred_at`` must lie within the last ``MAX_EVENT_AGE`` (30 days) and at
    most ``MAX_CLOCK_SKEW`` (5 minutes) ahead (checked by the route: it depends on now)."""

    event_id: TextId = Field(description="Unique per API key: the same id from another key "
                             "is another event")
    user_id: int = Id
    product_id: int = Field(ge=1, le=MAX_PRODUCT_ID)
    kind: EventKind
    occurred_at: AwareDatetime | None = None
    exposure_id: TextId | None = None
    value: float | None = Field(default=None, ge=0, le=MAX_VALUE, allow_inf_nan=False)


class EventBatch(Strict):
    events: list[Event] = Field(min_length=1)


class EventsAccepted(BaseModel):
    accepted: int
    new: int = Field(description="Accepted events whose id this key had not sent before")
    duplicates: int = Field(description="Accepted events whose id this key already sent and "
                            "that are stored: resends, which change nothing")
    # None when the broker was down: the events were stored directly in SQL and the
    # users' profiles are rebuilt from the log on their next use.
    task_id: str | None


class FeedItemOut(Strict):
    product_id: int
    exposure_id: str = Field(
        description="The id this item's exposure is logged under: send it with its events."
    )
    content: Content = Field(description="generated when its text or its image is generated")
    title: str = Field(description="The stock title")
    text: str = Field(description="The generated description, else the stock title")
    text_source: Content
    image_url: str | None = Field(description="None when there is no image to show")
    image_source: Content | None

    @model_validator(mode="after")
    def _sources_agree(self) -> Self:
        if (self.content == "generated") != ("generated" in (self.text_source, self.image_source)):
            raise ValueError("content is generated exactly when the text or image is")
        if (self.image_url is None) != (self.image_source is None):
            raise ValueError("an image has a source, and only an image has one")
        if self.text_source == "stock" and self.text != self.title:
            raise ValueError("stock text is the title")
        return self


FeedState = Literal["ready", "refreshing", "cold_start", "degraded"]


class FeedOut(Strict):
    """The user's feed; every item shown is logged as an exposure.

    The feed route writes this JSON itself (pydantic serialization would cost the hot path);
    the validators state what each state means, and the tests hold the route's bodies to them.
    """

    user_id: int
    state: FeedState = Field(
        description=(
            "ready: the cached feed; each item generated or stock, per the arm and the cache. "
            "refreshing: no feed is cached yet, so no items; a refresh is enqueued (ask again "
            "after Retry-After). cold_start: the user has no feed and no stored history; the "
            "shared cold-start feed, one feed for every such user, made from the assets of "
            "the largest persona (each item generated or stock, per the arm and the cache; "
            "generated_at and model_versions are the shared feed's), or, until it is made, "
            "stock content of the catalog's first products (no generated_at); no per-user "
            "work is queued until the user's first events are stored. degraded: Redis "
            "is down or did not answer in time; stock "
            "content for the products this API process last served the user (else the "
            "catalog's first), its exposures logged straight to SQL (lost only when the "
            "database is down too)."
        )
    )
    experiment_id: int | None = Field(description="The running experiment the user is in")
    arm: str | None = Field(description="The user's arm; None outside any experiment")
    generated_at: float | None = Field(description="When the feed was made (Unix seconds)")
    model_versions: dict[str, str] = Field(description="The models the feed was made with")
    items: list[FeedItemOut]

    @model_validator(mode="after")
    def _state_agrees(self) -> Self:
        made = self.generated_at is not None
        if self.state == "ready" and not made:
            raise ValueError("a ready feed was generated (generated_at)")
        if self.state in ("refreshing", "degraded") and made:
            raise ValueError(f"a {self.state} feed was not generated (no generated_at)")
        if not made and self.model_versions:
            raise ValueError("only a generated feed has model versions")
        if self.state == "refreshing" and self.items:
            raise ValueError("a refreshing feed has no items")
        if not made and any(item.content != "stock" for item in self.items):
            raise ValueError(f"a {self.state} feed not generated shows stock content only")
        return self


ArmWeight = Annotated[float, Field(gt=0.0, le=MAX_ARM_WEIGHT, allow_inf_nan=False)]
# Printable ASCII only: a NUL cannot be stored in PostgreSQL text (it was a 500).
PRINTABLE = r"^[\x20-\x7e]+$"


class ExperimentCreate(Strict):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    arms: dict[
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.:-]+$")],
        ArmWeight,
    ] = Field(default_factory=lambda: {str(a): 0.5 for a in ARMS}, max_length=len(ARMS))
    traffic_share: float = Field(default=1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    salt: str | None = Field(default=None, min_length=1, max_length=64, pattern=PRINTABLE)


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
