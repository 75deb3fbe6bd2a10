"""Every Redis key and payload format recgen reads or writes.

Keys are built here and nowhere else, so a format changes in one place and two modules can
never disagree about one (a test refuses key literals anywhere else in the package).

The functions return *logical* keys; :func:`prefixed` (or :func:`namespace`) puts a key under
the deployment's ``cache_prefix``, so tenants and test runs never collide. Asset keys stay
logical wherever they travel (feeds, SQL audit rows, asset URLs, exposure rows).

Under the prefix:

- ``asset:{kind}:{model_version}:p{product}:{u<user>|s<persona>|any}``: a generated text
  (UTF-8) or image (PNG); :func:`asset_key`.
- ``feed:{user}``: a user's feed, JSON in the :class:`FeedPayload` format. ``feed:0`` (of
  :data:`COLD_START_USER`) is the shared cold-start feed.
- ``feeds:refreshed``: sorted set, user -> when their feed was last written (Unix seconds).
- ``lock:{asset key}``: the stampede lock of an asset being generated (its value is the
  holder's token).
- ``lock:refresh:{user}``, ``lock:regenerate:{user}``: the API's per-user claims on enqueuing a
  feed refresh or the regeneration of a feed's missing assets.
- ``rejected:{asset key}``: the :class:`GatePayload` of an asset its gate refused.
- ``deliveries:{task id}:{retry}``: how often a Celery task's message was delivered.
- ``rate:{route}/{api key name}/{amount}/1/minute`` (and the ``limits`` package's suffixes):
  a key's sliding-window count of a limited route (generate, events, feed_enqueue).
- ``idempotency:{api key name}:{Idempotency-Key}``: an :class:`IdempotencyClaim`.
- ``task:{task id}``: a :class:`TaskOwner`, who submitted a task through the API and what it
  is (kept as long as Celery keeps the task's result); only that key may read the task.
- ``queued:{api key name}``: sorted set, task id -> when it stops counting (Unix seconds): the
  tasks a key submitted that have not finished (:mod:`recgen.runtime.queued`).
- ``{exposure_stream}``: the exposure stream, one :class:`ExposureEntry` per served feed in
  its field ``v``, drained by the consumer group :data:`EXPOSURE_DRAIN_GROUP`; entries that
  do not parse move to ``{exposure_stream}:dead``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic reads typing.TypedDict only from 3.12

from recgen.core.types import AssetKind, GateResult

if TYPE_CHECKING:
    from recgen.core.config import Settings

MAX_KEY_LENGTH: Final = 256  # generated_assets.cache_key is VARCHAR(256)
ASSET_KINDS: Final[tuple[AssetKind, ...]] = ("text", "image")
FEED: Final = "feed:"
# User ids start at 1 (the API refuses 0), so user 0 never has a row or history: its profile is
# the cold start's, and its feed, made by the ordinary refresh, is the one every user without
# history is served (from assets shared per persona), instead of work queued per made-up id.
COLD_START_USER: Final = 0
FEEDS_REFRESHED: Final = "feeds:refreshed"
EXPOSURE_DRAIN_GROUP: Final = "recgen-exposure-drain"


def namespace(prefix: str) -> str:
    """What every key of a deployment starts with: its ``cache_prefix`` and one colon."""
    return prefix.rstrip(":") + ":"


def prefixed(prefix: str, key: str) -> str:
    """``key`` under ``prefix``: the name Redis knows it by."""
    return namespace(prefix) + key


def asset_key(
    kind: AssetKind,
    product_id: int,
    *,
    model_version: str,
    user_id: int | None = None,
    persona_id: int | None = None,
) -> str:
    """``asset:{kind}:{model_version}:p{product}:{u<user>|s<persona>|any}``.

    Provenance is in the key, so an upgraded model never finds an old model's asset. The model
    version is percent-quoted so that no version string can forge another key.
    """
    if kind not in ASSET_KINDS:
        raise ValueError(f"kind must be 'text' or 'image', got {kind!r}")
    if user_id is not None and persona_id is not None:
        raise ValueError("an asset is made for a user or for a persona, not both")
    if not model_version:
        raise ValueError("model_version is required: it keeps upgraded models from stale keys")
    owner = (
        f"u{user_id}"
        if user_id is not None
        else f"s{persona_id}"
        if persona_id is not None
        else "any"
    )
    key = f"asset:{kind}:{quote(model_version, safe='.-_+')}:p{int(product_id)}:{owner}"
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"asset key longer than {MAX_KEY_LENGTH} characters: {key[:60]}...")
    return key


def asset_kind(key: str) -> AssetKind | None:
    """The kind of the asset ``key`` names, None when it names no asset."""
    parts = key.split(":", 2)
    if len(parts) < 3 or parts[0] != "asset":
        return None
    return next((kind for kind in ASSET_KINDS if kind == parts[1]), None)


def feed_key(user_id: int) -> str:
    return f"{FEED}{int(user_id)}"


def lock_key(asset: str) -> str:
    """The stampede lock of an asset being generated."""
    return f"lock:{asset}"


def refresh_lock_key(user_id: int) -> str:
    return f"lock:refresh:{int(user_id)}"


def regenerate_lock_key(user_id: int) -> str:
    return f"lock:regenerate:{int(user_id)}"


def reject_key(asset: str) -> str:
    """Where the gate result of a refused asset is remembered."""
    return f"rejected:{asset}"


def delivery_key(task_id: str, retries: int) -> str:
    return f"deliveries:{task_id}:{int(retries)}"


def rate_limit_prefix(prefix: str) -> str:
    """Where the ``limits`` package keeps the API's rate-limit counters: it appends
    ``:{route}/{api key name}/{amount}/1/minute`` (its sliding-window counters)."""
    return prefixed(prefix, "rate")


def idempotency_key(principal: str, request_key: str) -> str:
    """Per API key: two clients choosing the same Idempotency-Key never see each other's."""
    return f"idempotency:{principal}:{request_key}"


def task_owner_key(task_id: str) -> str:
    """Who submitted task ``task_id`` (a :class:`TaskOwner`)."""
    return f"task:{task_id}"


def queued_tasks_key(principal: str) -> str:
    """The tasks API key ``principal`` has queued and not finished."""
    return f"queued:{principal}"


def exposure_stream(settings: Settings) -> str:
    """The exposure stream's full name (prefix included)."""
    return prefixed(settings.cache_prefix, settings.exposure_stream)


def dead_letter_stream(stream: str) -> str:
    """Where the drainer moves entries of ``stream`` that do not parse."""
    return f"{stream}:dead"


# Payloads. TypedDicts rather than models: they describe plain JSON, and the feed's serving
# script (Lua) reads the feed by these field names.


class GatePayload(TypedDict):
    passed: bool
    reasons: list[str]


class FeedItemPayload(TypedDict):
    """One product of a feed; a None key means: serve the stock content for that kind."""

    product_id: int
    text_key: str | None
    image_key: str | None
    persona_id: int | None
    text_gate: GatePayload | None
    image_gate: GatePayload | None


class FeedPayload(TypedDict):
    user_id: int
    generated_at: float  # Unix seconds
    model_versions: dict[str, str]  # {"text": "...", "image": "..."}
    items: list[FeedItemPayload]


class ExposureEntry(TypedDict):
    """What one feed response showed. ``i``: [exposure id, product id, "generated" | "stock",
    the asset keys shown (text and image joined by a space) or None for stock]."""

    u: int  # user
    e: int | None  # experiment, None outside one (or for a QA override)
    a: str | None  # arm
    t: float  # served at, Unix seconds
    i: list[tuple[str, int, str, str | None]]


class IdempotencyClaim(TypedDict):
    fp: str  # sha256 of the request body
    task: str | None  # None while the first request is still being submitted


class TaskOwner(TypedDict):
    owner: str  # the API key's name
    kind: str  # "generate" or "events": what a failure message names


FEED_PAYLOAD: Final = TypeAdapter(FeedPayload)
MODEL_VERSIONS: Final = TypeAdapter(dict[str, str])
GATE_PAYLOAD: Final = TypeAdapter(GatePayload)
EXPOSURE_ENTRY: Final = TypeAdapter(ExposureEntry)
IDEMPOTENCY_CLAIM: Final = TypeAdapter(IdempotencyClaim)
TASK_OWNER: Final = TypeAdapter(TaskOwner)


def gate_payload(gate: GateResult) -> GatePayload:
    return {"passed": gate.passed, "reasons": list(gate.reasons)}


def gate_of(payload: GatePayload) -> GateResult:
    return GateResult(payload["passed"], tuple(payload["reasons"]))
