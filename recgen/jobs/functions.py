"""The background jobs, independent of transport: Celery tasks and the in-process executor
both call these functions, so the embedded default and production run the same logic.

Each job: read what it needs in one short transaction, generate outside any transaction
(minutes of model time must not hold a database connection), write cache entries and audit
rows, and return a JSON-able summary.

Generation of missing assets (:func:`materialise`):
1. assets already in the cache (or known to have been rejected by a gate) are reused;
2. for the rest we take a stampede lock per key (one pipelined ``SET NX``); keys another
   worker holds are not generated twice: we wait up to ``lock_wait_s`` for them to appear;
   one still missing is referenced anyway (its gate unknown) and readers serve stock for it
   until that worker has written it;
3. requests with equal keys inside one call (same product, persona and model) are generated
   once; that is the batch window in which persona sharing pays off.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recgen.core.keys import GATE_PAYLOAD, gate_of, gate_payload, reject_key
from recgen.core.types import AssetKind, GateResult, Product
from recgen.generation.cache import StoredFeed, StoredFeedItem
from recgen.generation.engine import Asset, AssetJob, Subject
from recgen.jobs import names
from recgen.jobs.context import JobContext, ProfileLike, ProfileSource
from recgen.jobs.events import record_events
from recgen.store.db import session_scope
from recgen.store.repos.assets import record_assets
from recgen.store.repos.products import get_products
from recgen.store.repos.users import user_ids_after

log = logging.getLogger(__name__)

CACHED_GATE = GateResult(True)  # an asset in the cache passed its gate when it was written
_POLL_S = 0.05


class Clock:
    """Seconds spent per phase of one job (cache, sql, generate, ...), for the summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._started = time.perf_counter()

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started

    def summary(self) -> dict[str, float]:
        total = {"job_s": time.perf_counter() - self._started, **self.seconds}
        return {name: round(value, 4) for name, value in total.items()}


@dataclass
class Outcome:
    """Per key: the gate that applies and whether the asset can be served from the cache."""

    gates: dict[str, GateResult] = field(default_factory=dict)
    servable: set[str] = field(default_factory=set)
    # Locked by another worker and not there yet: referenced anyway. A reader serves stock
    # for any key it does not find, so the asset shows up as soon as that worker writes it.
    pending: set[str] = field(default_factory=set)
    stats: dict[str, int] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)


def subject_for(profile: ProfileLike, profiles: ProfileSource, *, shared: bool) -> Subject:
    """The persona's subject when sharing is on and the user has one, else the user's own."""
    if shared and profile.persona_id is not None:
        persona = profiles.persona(profile.persona_id)
        if persona is not None:
            return Subject(
                controls=persona.controls,
                persona_id=persona.persona_id,
                taste_vector=persona.taste_vector,
            )
    vector = np.asarray(profile.vector, dtype=np.float32).ravel()
    return Subject(
        controls=profile.controls,
        user_id=profile.user_id,
        taste_vector=profile.taste_vector,
        profile_vector=tuple(float(v) for v in vector) if vector.any() else None,
    )


def materialise(
    ctx: JobContext,
    plan: Sequence[AssetJob],
    requested: int,
    clock: Clock,
    *,
    wait_s: float,
    owner: str | None = None,
) -> Outcome:
    """Make sure every planned asset is in the cache (or known to be stock); see module doc.

    ``owner`` is the Celery task id: a redelivered task takes over the locks it held when its
    worker was killed instead of waiting on them.
    """
    outcome = Outcome(clock=clock)
    keys = [job.key for job in plan]
    with clock("cache_s"):
        absent = set(ctx.cache.missing(keys))
        markers = {reject_key(k): k for k in absent}
        rejected = ctx.cache.get_many(list(markers)) if markers else {}
    outcome.servable.update(k for k in keys if k not in absent)
    outcome.gates.update((k, CACHED_GATE) for k in outcome.servable)
    for marker, raw in rejected.items():
        if raw is not None:
            key = markers[marker]
            outcome.gates[key] = gate_of(GATE_PAYLOAD.validate_json(raw))
            absent.discard(key)
    with clock("cache_s"):
        ours = set(ctx.cache.acquire_many(sorted(absent), ctx.lock_ttl_s, owner))
    try:
        with clock("generate_s"):
            assets = ctx.engine.run([job for job in plan if job.key in ours])
        _store(ctx, assets, outcome)
    finally:
        with clock("cache_s"):
            ctx.cache.release_many(sorted(ours), owner)
    with clock("wait_s"):
        waited = _wait_for(ctx, sorted(absent - ours), outcome, wait_s)
    generated = sum(1 for a in assets if a.generated)
    outcome.stats = {
        "requested": requested,
        "unique": len(keys),
        "cache_hits": len(keys) - len(absent) - sum(1 for k in rejected.values() if k),
        "generated": generated,
        "failed": sum(1 for a in assets if not a.generated),
        "rejected": sum(1 for a in assets if a.generated and not a.gate.passed),
        "waited_for_other_worker": waited,
        "pending_on_other_worker": len(outcome.pending),
        "reused": requested - generated,
    }
    return outcome


def _store(ctx: JobContext, assets: Sequence[Asset], outcome: Outcome) -> None:
    payloads = {a.key: a.payload for a in assets if a.servable and a.payload is not None}
    # A rejected asset is remembered (not served) so a deterministic model is not asked again.
    markers = {
        reject_key(a.key): GATE_PAYLOAD.dump_json(gate_payload(a.gate))
        for a in assets
        if a.generated and not a.gate.passed
    }
    with outcome.clock("cache_s"):
        ctx.cache.put_many({**payloads, **markers})
    outcome.servable.update(payloads)
    outcome.gates.update((a.key, a.gate) for a in assets)
    audited = [
        {
            "kind": a.kind,
            "product_id": a.product_id,
            "model_name": a.model_name,
            "model_version": a.model_version,
            "seed": a.seed,
            "conditions": a.conditions,
            "gate_passed": a.gate.passed,
            "gate_reasons": list(a.gate.reasons),
            "cache_key": a.key,
            "user_id": a.user_id,
            "persona_id": a.persona_id,
        }
        for a in assets
        if a.generated
    ]
    if audited:
        with outcome.clock("sql_s"), session_scope(ctx.sessions) as session:
            record_assets(session, assets=audited)


def _wait_for(ctx: JobContext, keys: list[str], outcome: Outcome, wait_s: float) -> int:
    """Wait (bounded) for assets another worker is generating; the rest stay pending."""
    pending = list(keys)
    deadline = time.monotonic() + wait_s
    while pending:
        still = set(ctx.cache.missing(pending))
        for key in pending:
            if key not in still:
                outcome.servable.add(key)
                outcome.gates[key] = CACHED_GATE
        pending = [k for k in pending if k in still]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
    outcome.pending.update(pending)
    return len(keys) - len(pending)


def _referable(key: str | None, outcome: Outcome) -> bool:
    return key is not None and (key in outcome.servable or key in outcome.pending)


def _feed_item(
    ctx: JobContext, subject: Subject, product_id: int, kinds: Sequence[AssetKind], outcome: Outcome
) -> StoredFeedItem:
    keys = {kind: ctx.engine.key(kind, product_id, subject) for kind in kinds}
    text_key, image_key = keys.get("text"), keys.get("image")
    return StoredFeedItem(
        product_id=product_id,
        text_key=text_key if _referable(text_key, outcome) else None,
        image_key=image_key if _referable(image_key, outcome) else None,
        persona_id=subject.persona_id,
        text_gate=outcome.gates.get(text_key) if text_key else None,
        image_gate=outcome.gates.get(image_key) if image_key else None,
    )


def _generate_for(
    ctx: JobContext,
    wanted: Mapping[int, tuple[Subject, list[int]]],
    kinds: Sequence[AssetKind],
    clock: Clock,
    wait_s: float,
    owner: str | None = None,
) -> tuple[dict[int, list[StoredFeedItem]], dict[str, int]]:
    """Items per user for ``{user: (subject, product ids)}``; unknown products are skipped."""
    with clock("sql_s"), session_scope(ctx.sessions) as session:
        products = get_products(session, product_ids=[p for _, ids in wanted.values() for p in ids])
    pairs: list[tuple[Subject, Product]] = [
        (subject, products[p]) for subject, ids in wanted.values() for p in ids if p in products
    ]
    plan = ctx.engine.plan(pairs, kinds)
    outcome = materialise(
        ctx, plan, requested=len(pairs) * len(kinds), clock=clock, wait_s=wait_s, owner=owner
    )
    items = {
        user_id: [_feed_item(ctx, subject, p, kinds, outcome) for p in ids if p in products]
        for user_id, (subject, ids) in wanted.items()
    }
    return items, outcome.stats


def generate_assets(
    ctx: JobContext,
    *,
    user_id: int,
    product_ids: Sequence[int],
    kinds: Sequence[AssetKind],
    owner: str | None = None,
) -> dict[str, Any]:
    """Generate (or reuse) the user's assets for these products; the feed is not changed."""
    clock = Clock()
    with clock("profiles_s"), session_scope(ctx.sessions) as session:
        subject = subject_for(
            ctx.profiles.profile_for(session, user_id), ctx.profiles, shared=ctx.persona_sharing
        )
    wanted = {user_id: (subject, list(product_ids))}
    # A caller polls this task for its assets: worth waiting for another worker's.
    items, stats = _generate_for(ctx, wanted, kinds, clock, ctx.lock_wait_s, owner)
    return {
        "user_id": user_id,
        "items": [_item_json(i) for i in items[user_id]],
        **stats,
        "seconds": clock.summary(),
    }


def refresh_feeds(
    ctx: JobContext, *, user_ids: Sequence[int], owner: str | None = None
) -> dict[str, Any]:
    """Retrieve candidates, generate what is missing for all these users at once, write feeds."""
    wanted: dict[int, tuple[Subject, list[int]]] = {}
    clock = Clock()
    with clock("profiles_s"), session_scope(ctx.sessions) as session:
        profiles = ctx.profiles.profiles_for(session, list(dict.fromkeys(user_ids)))
    with clock("retrieval_s"):
        # One FAISS search for the whole chunk: a matrix product instead of N vector ones.
        candidates = ctx.profiles.candidates_many(profiles, ctx.feed_size) if profiles else []
    for profile, products in zip(profiles, candidates, strict=True):
        subject = subject_for(profile, ctx.profiles, shared=ctx.persona_sharing)
        wanted[profile.user_id] = (subject, products)
    # A background refresh does not wait: the 2000-user bench spent 2.5 % of worker time
    # waiting on the other worker's locks; a pending key is served as stock until written.
    items, stats = _generate_for(ctx, wanted, ("text", "image"), clock, wait_s=0.0, owner=owner)
    now = time.time()
    feeds = [
        StoredFeed(
            user_id=u,
            generated_at=now,
            model_versions=ctx.engine.model_versions,
            items=tuple(items[u]),
        )
        for u in wanted
    ]
    with clock("cache_s"):
        ctx.cache.put_feeds(feeds)
    return {"users": len(wanted), **stats, "seconds": clock.summary()}


def stale_user_ids(ctx: JobContext, *, limit: int, page: int = 5000) -> list[int]:
    """Up to ``limit`` users, in id order, whose feed is missing or older than the max age."""
    stale: list[int] = []
    last = -1
    while len(stale) < limit:
        with session_scope(ctx.sessions) as session:
            ids = user_ids_after(session, after=last, limit=page)
        if not ids:
            break
        ages = ctx.cache.feed_ages(ids)
        for user_id in ids:
            age = ages[user_id]
            if age is None or age > ctx.feed_max_age_s:
                stale.append(user_id)
        last = ids[-1]
    return stale[:limit]


def _item_json(item: StoredFeedItem) -> dict[str, Any]:
    return {
        "product_id": item.product_id,
        "text_key": item.text_key,
        "image_key": item.image_key,
        "persona_id": item.persona_id,
    }


def refresh_stale_inline(ctx: JobContext, *, chunk_size: int, max_chunks: int) -> dict[str, Any]:
    """The in-process beat: refresh stale feeds chunk by chunk in this thread."""
    stale = stale_user_ids(ctx, limit=chunk_size * max_chunks)
    for start in range(0, len(stale), chunk_size):
        refresh_feeds(ctx, user_ids=stale[start : start + chunk_size])
    return {"stale": len(stale), "chunks": -(-len(stale) // chunk_size)}


def job_table(
    ctx: JobContext, *, chunk_size: int, max_chunks: int
) -> dict[str, Callable[..., Any]]:
    """Task name -> job: what the in-process executor runs for each Celery task name."""
    return {
        names.TASK_GENERATE_ASSETS: lambda **kw: generate_assets(ctx, **kw),
        names.TASK_REFRESH_FEED: lambda user_id: refresh_feeds(ctx, user_ids=[user_id]),
        names.TASK_REFRESH_FEEDS: lambda user_ids: refresh_feeds(ctx, user_ids=user_ids),
        names.TASK_REFRESH_STALE_FEEDS: lambda: refresh_stale_inline(
            ctx, chunk_size=chunk_size, max_chunks=max_chunks
        ),
        names.TASK_RECORD_EVENTS: lambda events: record_events(ctx, events=events),
    }
