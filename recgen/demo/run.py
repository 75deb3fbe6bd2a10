"""The end-to-end demo on the embedded defaults: every stage of the real pipeline, small.

Stages: catalog -> simulated users and events -> profiles, personas and FAISS indexes ->
feed refresh (generated text and images through the real engine, gates and cache) -> a
generated-vs-stock A/B simulation -> a self-contained HTML report.

The demo owns ``var_dir/demo`` (its own SQLite file, indexes and report) and starts it afresh
on every run, so it never touches a database the user configured.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from recgen.catalog.ingest import load_catalog
from recgen.catalog.split import is_validation
from recgen.core.config import Settings
from recgen.core.errors import DataFileError
from recgen.demo.config import DemoConfig
from recgen.demo.page import ArmResult, FeedCard, UserSection, render_page
from recgen.experiments.simulation import simulate
from recgen.experiments.simulator import Simulator, SimUser, store_population
from recgen.jobs.context import JobContext
from recgen.jobs.functions import refresh_feeds
from recgen.profiles.rebuild import photo_embedder, rebuild_indexes
from recgen.runtime.bootstrap import build_context, build_sessions, image_classifier_path
from recgen.store.db import session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.products import get_products, iter_products

DATA_HELP = (
    "The demo reads the Myntra catalog (styles.csv + images/) from the data directory. Set "
    "RECGEN_DATA_DIR to a folder holding myntra/styles.csv and myntra/images/ (the 'Fashion "
    "Product Images (Small)' dataset, Kaggle; see README 'Data')."
)
PHOTOS_IN_CATALOG = 8309  # products of styles.csv with a photo; sizes the demo's sample


@dataclass(slots=True)
class DemoResult:
    report_path: Path
    stage_seconds: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int], Callable[[int], None]]  # (stage, total) -> advance(n)


def demo_settings(settings: Settings) -> Settings:
    workdir = settings.var_dir / "demo"
    return settings.model_copy(
        update={
            "database_url": f"sqlite:///{workdir / 'recgen.db'}",
            "index_dir": workdir / "indexes",
            "cache_backend": "memory",
            "executor": "inprocess",
        }
    )


def run_demo(settings: Settings, config: DemoConfig, progress: Progress) -> DemoResult:
    """Catalog -> users -> indexes -> feeds -> A/B test -> report, each stage timed."""
    styles = settings.data_dir / "myntra" / "styles.csv"
    images = settings.data_dir / "myntra" / "images"
    if not styles.is_file() or not images.is_dir():
        raise DataFileError(f"no catalog at {styles} (or no {images}). {DATA_HELP}")
    workdir = settings.var_dir / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    settings = demo_settings(settings)
    result = DemoResult(report_path=workdir / "report.html")

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result.stage_seconds[name] = round(time.perf_counter() - started, 1)

    upgrade(settings.database_url)
    factory = build_sessions(settings)
    with stage("catalog"):
        result.figures["products"] = _load_catalog_slice(
            factory, settings, config, styles=styles, images=images, progress=progress
        )
    with stage("users"):
        simulator, people, events = _simulate_users(factory, config, progress)
    result.figures.update(users=len(people), events=events)
    with stage("indexes"):
        advance_index = progress("indexes", 3)  # item vectors, profiles, personas
        rebuilt = rebuild_indexes(
            factory,
            index_dir=settings.index_dir,
            personas=config.personas,
            image_embedder=photo_embedder(image_classifier_path(settings)),
            on_stage=lambda _name: advance_index(1),
        )
    result.figures["personas"] = rebuilt.personas
    with stage("feeds"):
        ctx = build_context(settings)
        feed_users = [u.user_id for u in people[: config.feed_users]]
        totals = _refresh_feeds(ctx, feed_users, progress("feeds", len(feed_users)))
    result.figures.update({f"feed_{k}": v for k, v in totals.items()})
    with stage("ab_test"):
        ab = simulate(simulator, users=config.ab_users, seed=config.seed)
        progress("ab_test", 1)(1)
    result.figures.update(
        ab_true_lift=ab["true_lift"],
        ab_lift=ab["lift"],
        ab_lift_ci=(ab["lift_ci_low"], ab["lift_ci_high"]),
        ab_p_value=ab["p_value"],
    )
    with stage("report"):
        sections = [_user_section(ctx, u) for u in feed_users[: config.report_users]]
        html = _render(result, ctx, sections, ab)
        result.report_path.write_text(html, encoding="utf-8")
    return result


def _load_catalog_slice(
    factory: sessionmaker[Session], settings: Settings, config: DemoConfig, *,
    styles: Path, images: Path, progress: Progress,
) -> int:
    """A hash-sampled slice of the products with a photo, so the demo runs in minutes."""
    share = min(1.0, config.products / PHOTOS_IN_CATALOG)
    loaded = load_catalog(
        factory,
        styles=styles,
        images_dir=images,
        batch_size=settings.catalog_batch_size,
        keep=lambda p: (
            p.image_path is not None
            and is_validation(p.product_id, salt="recgen-demo", validation_fraction=share)
        ),
        on_batch=progress("catalog", config.products),
    )
    return loaded.loaded


def _simulate_users(
    factory: sessionmaker[Session], config: DemoConfig, progress: Progress
) -> tuple[Simulator, list[SimUser], int]:
    """Seeded users and their histories over the loaded products, stored (and the event count)."""
    with session_scope(factory) as session:
        products = list(iter_products(session))
    simulator = Simulator(products, seed=config.seed)
    people = simulator.users(config.users)
    log = simulator.events(people, views_per_user=config.views_per_user)
    store_population(factory, people, log, on_rows=progress("users", len(people) + len(log)))
    return simulator, people, len(log)


def _refresh_feeds(
    ctx: JobContext, user_ids: list[int], advance: Callable[[int], None], chunk: int = 20
) -> dict[str, float]:
    """Refresh the users' feeds through the real job, in chunks; the jobs' counters summed."""
    totals: dict[str, float] = {}
    for start in range(0, len(user_ids), chunk):
        batch = user_ids[start : start + chunk]
        stats = refresh_feeds(ctx, user_ids=batch)
        for key, value in stats.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
        advance(len(batch))
    return totals


_AB_FIGURES = (
    "true_lift", "lift", "lift_ci_low", "lift_ci_high", "p_value", "srm_p_value", "srm_flagged",
)


def _render(
    result: DemoResult, ctx: JobContext, sections: list[UserSection], ab: dict[str, Any]
) -> str:
    arms = [
        ArmResult(
            name,
            arm["users"],
            arm["exposures"],
            arm["ctr"]["value"],
            arm["ctr"]["ci_low"],
            arm["ctr"]["ci_high"],
        )
        for name, arm in ab["report"]["arms"].items()
    ]
    return render_page(
        title="recgen demo: personalized generated content",
        summary={
            **result.figures,
            "stage_seconds": result.stage_seconds,
            "models": dict(ctx.engine.model_versions),
        },
        users=sections,
        arms=arms,
        ab_figures={k: ab[k] for k in _AB_FIGURES},
    )


def _user_section(ctx: JobContext, user_id: int) -> UserSection:
    feed = ctx.cache.get_feed(user_id)
    items = feed.items if feed is not None else ()
    keys = [k for item in items for k in (item.text_key, item.image_key) if k is not None]
    payloads = ctx.cache.get_many(keys)
    with session_scope(ctx.sessions) as session:
        profile = ctx.profiles.profile_for(session, user_id)
        products = get_products(session, product_ids=[item.product_id for item in items])
    cards = []
    for item in items:
        product = products[item.product_id]
        text = payloads.get(item.text_key) if item.text_key else None
        cards.append(
            FeedCard(
                product=product,
                stock_image=Path(product.image_path).read_bytes() if product.image_path else None,
                generated_text=text.decode() if text else None,
                text_gate=item.text_gate,
                generated_image=payloads.get(item.image_key) if item.image_key else None,
                image_gate=item.image_gate,
                persona_id=item.persona_id,
            )
        )
    controls = profile.controls
    return UserSection(
        user_id=user_id,
        arm=None,
        profile={
            "persona": profile.persona_id,
            "usage": controls.usage,
            "colour": controls.colour_group,
            "age band": controls.age_band,
            "aspect": controls.aspect,
            "image taste": "from history" if profile.taste_vector is not None else "none",
        },
        cards=cards,
    )
