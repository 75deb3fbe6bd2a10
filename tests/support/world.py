"""What only the reliability tests use beside the shared world (``harness.world``): worker
environments, feeds put straight into the cache, event batches and row counts to check.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, select, text

from harness.world import PRODUCTS
from recgen.generation.cache import RedisAssetCache, StoredFeed, StoredFeedItem
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.models import ExposureRow


def worker_env(
    database_url: str, index_dir: Path, prefix: str, **extra: str
) -> dict[str, str]:
    """Environment of a test's worker process: its own database, indexes, cache prefix and
    queue, one torch thread; ``extra`` adds or overrides ``RECGEN_*`` variables."""
    return {
        "RECGEN_ENV": "test",
        "RECGEN_DATABASE_URL": database_url,
        "RECGEN_INDEX_DIR": str(index_dir),
        "RECGEN_CACHE_PREFIX": prefix,
        "RECGEN_CELERY_QUEUE": prefix,
        "RECGEN_TORCH_THREADS": "1",
        **extra,
    }


def put_generated_feed(redis_url: str, prefix: str, user_id: int, products: Sequence[int]) -> None:
    """A feed whose items all have a generated text in the cache (as a worker writes it)."""
    client: redis.Redis[bytes] = redis.Redis.from_url(redis_url)
    cache = RedisAssetCache(client, prefix, 600, 0.0)
    items = []
    for pid in products:
        key = f"asset:text:{pid}:u{user_id}:test"
        cache.put_many({key: f"generated text for {pid}".encode()})
        items.append(StoredFeedItem(product_id=pid, text_key=key, image_key=None))
    import time

    cache.put_feed(StoredFeed(user_id=user_id, generated_at=time.time(),
                              model_versions={"text": "t"}, items=tuple(items)))
    client.close()


def queued_tasks(broker: redis.Redis[bytes], queue: str) -> list[tuple[str, Any]]:
    """(task name, kwargs) of each message waiting in a Redis broker's ``queue``."""
    messages = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[1])
            for m in messages]


def stored_exposures(database_url: str, ids: Sequence[str]) -> dict[str, tuple[int, int, str]]:
    """(user, product, content) of each stored exposure among ``ids``."""
    engine = make_engine(database_url)
    with session_scope(session_factory(engine)) as session:
        rows = session.execute(
            select(ExposureRow.id, ExposureRow.user_id, ExposureRow.product_id,
                   ExposureRow.content).where(ExposureRow.id.in_(list(ids)))
        ).all()
    engine.dispose()
    return {row.id: (row.user_id, row.product_id, row.content) for row in rows}


def events(user_id: int, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{tag}-{uuid.uuid4().hex[:12]}", "user_id": user_id,
         "product_id": PRODUCTS[i % len(PRODUCTS)].product_id, "kind": "click"}
        for i in range(count)
    ]


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table that a request could write (one query; run per fuzz case, on an engine
    the caller keeps for the run)."""
    tables = ("users", "interactions", "experiments", "assignments", "exposures", "api_keys",
              "generated_assets")
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    with engine.connect() as conn:
        return {str(name): int(count) for name, count in conn.execute(text(query))}
