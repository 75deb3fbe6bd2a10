"""A small, real world for the dashboard tests, built through the project's own code paths.

- catalog: real Myntra products with their stock photos;
- users and events: the documented simulator, stored by ``store_population``;
- profiles, personas and indexes: ``recgen index rebuild``'s ``rebuild_indexes``, over seeded
  random item text vectors so that no sentence encoder has to load;
- feeds: ``refresh_feeds`` with the wired job context (plan, stampede locks, gates, cache,
  audit rows), i.e. what a worker does;
- an experiment served through ``GET /v1/feed`` (the Lua serving path logs the exposures),
  drained to SQL, with clicks drawn from the simulator's click model.

Models: the shipped text and image models from ``recgen/weights`` (``build_engine``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from recgen.catalog.styles import read_styles
from recgen.core.config import Settings
from recgen.core.types import PersonaControls, Product
from recgen.experiments.simulator import Simulator, SimUser, store_population
from recgen.jobs.functions import refresh_feeds, subject_for
from recgen.profiles.rebuild import rebuild_indexes
from recgen.retrieval.item_vectors import ItemVectors
from recgen.runtime import bootstrap
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.products import upsert_products

# Sized so that the shipped text model writes a few dozen descriptions (persona sharing: one
# per product and persona), which keeps the whole world under a minute on two busy cores.
PRODUCTS = 40
USERS = 16
PERSONAS = 2
FEED_REQUESTS_PER_USER = 4


def load_catalog(settings: Settings, data_dir: Path) -> list[Product]:
    catalog = read_styles(data_dir / "myntra" / "styles.csv", data_dir / "myntra" / "images")
    # Every other photographed product: a mix of article types rather than one run of shirts.
    products = [p for p in catalog.products if p.image_path][: PRODUCTS * 2 : 2]
    with session_scope(session_factory(make_engine(settings.database_url))) as session:
        upsert_products(session, products=products)
    return products


def simulate_users(settings: Settings, products: Sequence[Product]) -> list[SimUser]:
    simulator = Simulator(products, seed=11)
    users = simulator.users(USERS)
    factory = session_factory(make_engine(settings.database_url))
    store_population(factory, users, simulator.events(users, views_per_user=12))
    return users


def rebuild_profiles(settings: Settings, products: Sequence[Product]) -> None:
    """``recgen index rebuild``'s library function on stored random item vectors (it reuses
    vectors that cover the catalog exactly, so the sentence encoder never loads)."""
    rng = np.random.default_rng(0)
    ItemVectors(
        product_ids=np.array([p.product_id for p in products], dtype=np.int64),
        text=rng.normal(size=(len(products), 16)).astype(np.float32),
        text_version="test-random",
    ).save(settings.index_dir / "items")
    factory = session_factory(make_engine(settings.database_url))
    rebuild_indexes(factory, index_dir=settings.index_dir, personas=PERSONAS)


def build_feeds(settings: Settings) -> dict[int, PersonaControls]:
    """Refresh every user's feed with the worker's job context (models, profiles service,
    cache, store) and return the controls each user's content was generated with."""
    ctx = bootstrap.build_context(settings)
    summary = refresh_feeds(ctx, user_ids=list(range(1, USERS + 1)))
    assert summary["users"] == USERS and summary["generated"] > 0, summary
    with session_scope(ctx.sessions) as session:
        return {
            user_id: subject_for(
                ctx.profiles.profile_for(session, user_id), ctx.profiles, shared=True
            ).controls
            for user_id in range(1, USERS + 1)
        }


def run_experiment(
    api: TestClient,
    users: Sequence[SimUser],
    products: Sequence[Product],
    controls: dict[int, PersonaControls],
) -> int:
    """Create and start an experiment, serve every user's feed a few times through the API,
    drain the exposures, and store clicks drawn from the simulator's click model."""
    created = api.post("/v1/experiments", json={"name": "generated-vs-stock", "salt": "dash"})
    experiment_id = int(created.json()["id"])
    assert api.post(f"/v1/experiments/{experiment_id}/start").status_code == 200
    simulator = Simulator(products, seed=11)
    rng = random.Random(5)
    clicks = []
    for user in users:
        for _ in range(FEED_REQUESTS_PER_USER):
            feed = api.get(f"/v1/feed/{user.user_id}", params={"limit": 8}).json()
            for item in feed["items"]:
                content = item["content"]
                p = simulator.click_probability(
                    user, [item["product_id"]], content, controls[user.user_id]
                )[0]
                if rng.random() < p:
                    clicks.append(
                        {
                            "event_id": f"dash-{item['exposure_id']}",
                            "user_id": user.user_id,
                            "product_id": item["product_id"],
                            "kind": "click",
                            "exposure_id": item["exposure_id"],
                        }
                    )
    state = api.app.state.recgen  # type: ignore[attr-defined]
    state.drainer.drain_all()
    with session_scope(state.sessions) as session:
        add_interactions(session, events=clicks)
    return experiment_id
