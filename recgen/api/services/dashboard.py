"""What the operator dashboard shows, assembled from the store, the asset cache and experiments.

Every view is read-only. In particular the feed view reads the cached feed directly instead of
going through the serving path: looking at a user's feed on the dashboard is not an exposure
and must not enter the A/B analysis or take a regeneration lock.

The API adds URLs (it owns the URL scheme) through the ``asset_url``/``stock_url`` callables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from recgen.core.keys import asset_key
from recgen.core.types import AssetKind, ExperimentConfig, GateResult, Product
from recgen.experiments.analysis import UserOutcomes, build_report
from recgen.experiments.assignment import assign
from recgen.generation.cache import AssetCache, StoredFeed, StoredFeedItem
from recgen.store.models import GeneratedAssetRow, utcnow
from recgen.store.repos import activity
from recgen.store.repos import experiments as experiment_repo
from recgen.store.repos.products import get_products

KINDS: tuple[AssetKind, ...] = ("text", "image")
# Drafts are not shown; older stopped experiments stay reachable through the experiments API.
MAX_EXPERIMENTS = 5


def user_view(session: Session, *, user_id: int) -> dict[str, Any] | None:
    """The user, their stored profile summary, what their history is made of, latest events."""
    record = activity.user_record(session, user_id=user_id)
    if record is None:
        return None
    return {
        **record,
        "interaction_mix": activity.interaction_mix(session, user_id=user_id),
        "recent": activity.recent_interactions(session, user_id=user_id),
    }


def _provenance(row: GeneratedAssetRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "model_name": row.model_name,
        "model_version": row.model_version,
        "seed": row.seed,
        "conditions": row.conditions,
        "created_at": row.created_at,
        "user_id": row.user_id,
        "persona_id": row.persona_id,
    }


def _gate(gate: GateResult | None, audit: GeneratedAssetRow | None) -> dict[str, Any] | None:
    # The feed keeps the gate it was built with; the audit row is the fallback for old feeds.
    if gate is not None:
        return {"passed": gate.passed, "reasons": list(gate.reasons)}
    if audit is not None:
        return {"passed": audit.gate_passed, "reasons": list(audit.gate_reasons)}
    return None


def _audit_key(feed: StoredFeed, item: StoredFeedItem, kind: AssetKind) -> str | None:
    """The key the asset of ``kind`` had (or would have had): a rejected asset's feed key is
    None, but its audit row is still found under the key built from the feed's model version.
    """
    served = item.text_key if kind == "text" else item.image_key
    version = feed.model_versions.get(kind)
    if served is not None or not version:
        return served
    if item.persona_id is not None:
        return asset_key(kind, item.product_id, model_version=version, persona_id=item.persona_id)
    return asset_key(kind, item.product_id, model_version=version, user_id=feed.user_id)


def feed_view(
    session: Session,
    cache: AssetCache,
    *,
    user_id: int,
    experiment: ExperimentConfig | None,
    default_content: str,
    asset_url: Callable[[str], str],
    stock_url: Callable[[int], str],
) -> dict[str, Any]:
    """The user's cached feed with each asset's payload, gate and provenance."""
    arm = assign(experiment, user_id) if experiment is not None else None
    head: dict[str, Any] = {
        "user_id": user_id,
        "experiment_id": experiment.experiment_id if experiment is not None and arm else None,
        "arm": arm,
        "serves": arm or default_content,
    }
    feed = cache.get_feed(user_id)
    if feed is None:
        return {**head, "state": "missing", "generated_at": None, "model_versions": {}, "items": []}
    keys = {
        (item.product_id, kind): _audit_key(feed, item, kind)
        for item in feed.items
        for kind in KINDS
    }
    audit = activity.assets_by_keys(session, keys=[k for k in keys.values() if k])
    products = get_products(session, product_ids=[item.product_id for item in feed.items])
    texts = cache.get_many([item.text_key for item in feed.items if item.text_key])
    images = [item.image_key for item in feed.items if item.image_key]
    expired = set(cache.missing(images))
    items = [
        {
            "product_id": item.product_id,
            "persona_id": item.persona_id,
            "product": _product(products.get(item.product_id)),
            "stock_image_url": _stock_image_url(products.get(item.product_id), stock_url),
            "text": _asset_view(
                keys[(item.product_id, "text")], item.text_gate, audit,
                value=_decoded(texts.get(item.text_key) if item.text_key else None),
            ),
            "image": _asset_view(
                keys[(item.product_id, "image")], item.image_gate, audit,
                url=asset_url(item.image_key)
                if item.image_key is not None and item.image_key not in expired else None,
            ),
        }
        for item in feed.items
    ]
    return {
        **head,
        "state": "ready",
        "generated_at": feed.generated_at,
        "model_versions": dict(feed.model_versions),
        "items": items,
    }


def _stock_image_url(product: Product | None, stock_url: Callable[[int], str]) -> str | None:
    if product is None or not product.image_path:
        return None
    return stock_url(product.product_id)


def _decoded(payload: bytes | None) -> str | None:
    return payload.decode() if payload is not None else None


def _asset_view(
    key: str | None,
    gate: GateResult | None,
    audit: Mapping[str, GeneratedAssetRow],
    **payload: str | None,
) -> dict[str, Any]:
    """One asset of a feed item: its key, its payload (a text's value or an image's URL),
    its gate and its audit row's provenance."""
    row = audit.get(key or "")
    return {"key": key, **payload, "gate": _gate(gate, row), "provenance": _provenance(row)}


def _product(product: Product | None) -> dict[str, Any] | None:
    if product is None:
        return None
    return {
        "title": product.title,
        "gender": product.gender,
        "article_type": product.article_type,
        "base_colour": product.base_colour,
        "season": product.season,
        "usage": product.usage,
    }


def experiments_view(session: Session, *, level: float = 0.95) -> list[dict[str, Any]]:
    """Running and recently stopped experiments, each with its full report and content mix."""
    rows = [
        row
        for row in experiment_repo.list_experiments(session)
        if row.status in ("running", "stopped")
    ]
    rows.sort(key=lambda r: (r.status != "running", -(r.started_at or r.created_at).timestamp()))
    rows = rows[:MAX_EXPERIMENTS]
    mix = activity.exposure_mix(session, experiment_ids=[r.id for r in rows])
    views = []
    for row in rows:
        config = experiment_repo.experiment_config(session, experiment=row)
        outcomes = experiment_repo.user_outcomes(
            session, experiment_id=row.id, pre_period_end=row.started_at
        )
        views.append(
            {
                "id": row.id,
                "name": row.name,
                "status": row.status,
                "report": build_report(config, UserOutcomes.from_rows(outcomes), level=level),
                "content_mix": [
                    {k: m[k] for k in ("arm", "content", "count")}
                    for m in mix
                    if m["experiment_id"] == row.id
                ],
            }
        )
    return views


def generation_stats(
    session: Session, *, window: timedelta, now: datetime | None = None
) -> dict[str, Any]:
    """What the models generated in the window, how much the gates passed, and why not."""
    since = (now or utcnow()) - window
    return {
        "since": since,
        "models": activity.generation_summary(session, since=since),
        "rejection_reasons": activity.rejection_reasons(session, since=since),
        "timeline": activity.generation_timeline(session, since=since),
    }
