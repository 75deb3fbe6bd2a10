"""An A/B experiment of generated vs stock content, end to end on simulated users.

The simulator (:mod:`recgen.experiments.simulator`) owns the ground truth: who likes what, and
the click probability of stock content and of generated content conditioned on some persona
controls.
This module runs the experiment through the production code:

1. users are assigned by :func:`recgen.experiments.assignment.assign` (hash of salt and user id);
2. each user is shown products drawn from their view distribution, with the content of their
   arm; each showing is an exposure with its own id;
3. clicks, add-to-carts and purchases are drawn from the simulator's response model and carry
   the exposure id;
4. the report is :func:`recgen.experiments.analysis.build_report`: from SQL (exposure rows
   written by ``add_exposures``, outcomes by ``add_interactions``, joined by ``user_outcomes``) in
   :func:`run_in_store`, or from the same per-user sums in memory in :func:`simulate` (the
   coverage test runs hundreds of seeds).

Generated content is conditioned on what a profile could know at serving time: the sign-up
usage and colour preferences (when the user gave them) and the age band; the preferred aspect
is unknown. The true lift is the simulator's: expected CTR of generated over stock content on
the same exposures (``Simulator.true_lift``), computed for every exposure of both arms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from recgen.core.types import ExperimentConfig, PersonaControls, Product
from recgen.experiments.analysis import OUTCOMES, UserOutcomes, build_report
from recgen.experiments.assignment import assign
from recgen.experiments.simulator import CART_RATE, PURCHASE_RATE, Simulator, SimUser, user_rows
from recgen.store.db import session_scope
from recgen.store.repos import experiments as repo
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.products import upsert_products
from recgen.store.repos.users import upsert_users

EXPERIMENT_START = datetime(2026, 11, 1, tzinfo=UTC)
PRE_PERIOD_DAYS = 28.0


@dataclass(frozen=True)
class Exposure:
    exposure_id: str
    user_id: int
    product_id: int
    arm: str
    click: bool
    add_to_cart: bool
    purchase: bool


@dataclass(frozen=True)
class SimulationRun:
    config: ExperimentConfig
    users: list[SimUser]
    arms: dict[int, str]
    exposures: list[Exposure]
    pre_clicks: dict[int, int]
    pre_events: list[dict[str, Any]]
    true_lift: float


def served_controls(user: SimUser) -> PersonaControls:
    """The controls generated content is conditioned on (see module doc)."""
    prefs = user.signup_preferences
    return PersonaControls(
        usage=prefs.get("usage") or None,
        colour_group=prefs.get("colour_group") or None,
        age_band=user.age_band,
    )


def _config(seed: int, traffic_share: float, weights: dict[str, float]) -> ExperimentConfig:
    return ExperimentConfig(
        experiment_id=0,
        name=f"simulated-{seed}",
        salt=f"sim-{seed}",
        traffic_share=traffic_share,
        arms=tuple(sorted(weights.items())),
        started_at=EXPERIMENT_START,
    )


def run_simulation(
    simulator: Simulator,
    *,
    users: int,
    seed: int,
    exposures_per_user: float = 8.0,
    traffic_share: float = 1.0,
    weights: dict[str, float] | None = None,
    pre_period: bool = True,
    on_user: Callable[[], object] | None = None,
) -> SimulationRun:
    """Assign, expose and draw outcomes for ``users`` simulated users (deterministic in seed).

    ``pre_period`` simulates the month before the start (the CUPED covariate); without it
    the covariate is 0 and CUPED changes nothing.
    """
    config = _config(seed, traffic_share, weights or {"generated": 0.5, "stock": 0.5})
    people = simulator.users(users)
    rng = np.random.default_rng([seed, 7])
    pre_events, pre_clicks = (
        _pre_period(simulator, people, exposures_per_user) if pre_period
        else ([], {u.user_id: 0 for u in people})
    )
    arms: dict[int, str] = {}
    exposures: list[Exposure] = []
    expected_stock = expected_generated = 0.0
    for user in people:
        if on_user is not None:
            on_user()
        arm = assign(config, user.user_id)
        if arm is None:
            continue
        arms[user.user_id] = arm
        shown, p_stock, p_generated = _showings(simulator, user, rng, exposures_per_user)
        expected_stock += float(p_stock.sum())
        expected_generated += float(p_generated.sum())
        exposures += _outcomes(
            rng, f"sim{seed}-{user.user_id}", user.user_id, arm, shown,
            p_generated if arm == "generated" else p_stock,
        )
    return SimulationRun(
        config=config,
        users=people,
        arms=arms,
        exposures=exposures,
        pre_clicks=pre_clicks,
        pre_events=pre_events,
        true_lift=expected_generated / expected_stock - 1.0,
    )


def _pre_period(
    simulator: Simulator, people: Sequence[SimUser], views_per_user: float
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The month before the start: its events, and each user's clicks (the CUPED covariate)."""
    pre_log = simulator.events(
        people, views_per_user=views_per_user, days=PRE_PERIOD_DAYS, end=EXPERIMENT_START
    )
    clicks = {u.user_id: 0 for u in people}
    for uid in pre_log.user_ids[pre_log.kinds == "click"]:
        clicks[int(uid)] += 1
    return list(pre_log.as_dicts()), clicks


def _showings(
    simulator: Simulator, user: SimUser, rng: np.random.Generator, exposures_per_user: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The products shown to one user, with their click probabilities under either arm."""
    count = 1 + int(rng.poisson(exposures_per_user - 1))
    rows = rng.choice(
        len(simulator.catalog.product_ids), size=count, p=simulator.view_distribution(user)
    )
    product_ids = simulator.catalog.product_ids[rows]
    p_stock = simulator.click_probability(user, product_ids, "stock")
    p_generated = simulator.click_probability(
        user, product_ids, "generated", served_controls(user)
    )
    return product_ids, p_stock, p_generated


def _outcomes(
    rng: np.random.Generator, prefix: str, user_id: int, arm: str,
    product_ids: npt.NDArray[np.int64], p_click: npt.NDArray[np.float64],
) -> list[Exposure]:
    """Clicks, carts and purchases drawn for each showing; each exposure has its own id."""
    clicks = rng.random(len(product_ids)) < p_click
    carts = clicks & (rng.random(len(product_ids)) < CART_RATE)
    buys = carts & (rng.random(len(product_ids)) < PURCHASE_RATE)
    return [
        Exposure(f"{prefix}-{i}", user_id, int(pid), arm, bool(c), bool(a), bool(b))
        for i, (pid, c, a, b) in enumerate(zip(product_ids, clicks, carts, buys, strict=True))
    ]


def outcomes_in_memory(run: SimulationRun) -> UserOutcomes:
    """The per-user sums that ``user_outcomes`` computes in SQL, computed here directly."""
    order = sorted(run.arms)
    index = {uid: i for i, uid in enumerate(order)}
    sums = np.zeros((len(order), 4))
    for e in run.exposures:
        sums[index[e.user_id]] += (1, e.click, e.add_to_cart, e.purchase)
    return UserOutcomes(
        arms=np.array([run.arms[u] for u in order], dtype=np.str_),
        exposures=sums[:, 0],
        outcomes={kind: sums[:, j + 1] for j, (_, kind) in enumerate(OUTCOMES)},
        pre_period=np.array([run.pre_clicks[u] for u in order], dtype=np.float64),
    )


def simulate(simulator: Simulator, *, users: int, seed: int, **kw: Any) -> dict[str, Any]:
    """Run and report in memory (fast: for many seeds)."""
    run = run_simulation(simulator, users=users, seed=seed, **kw)
    return summarize(run, build_report(run.config, outcomes_in_memory(run)))


def run_in_store(
    sessions: sessionmaker[Session],
    simulator: Simulator,
    products: Sequence[Product],
    *,
    users: int,
    seed: int,
    **kw: Any,
) -> dict[str, Any]:
    """Run through the store: experiment, exposures and outcome events in SQL, report from SQL."""
    run = run_simulation(simulator, users=users, seed=seed, **kw)
    shown = {e.product_id for e in run.exposures} | {int(e["product_id"]) for e in run.pre_events}
    with session_scope(sessions) as session:
        upsert_products(session, products=[p for p in products if p.product_id in shown])
        upsert_users(session, users=user_rows(run.users))
        for start in range(0, len(run.pre_events), 5000):
            add_interactions(session, events=run.pre_events[start : start + 5000])
        row = repo.create_experiment(
            session,
            name=f"{run.config.name}-{datetime.now(UTC):%Y%m%d%H%M%S%f}",
            salt=run.config.salt,
            arms=run.config.weights,
            traffic_share=run.config.traffic_share,
        )
        repo.start_experiment(session, experiment=row, at=EXPERIMENT_START)
        _store_exposures(session, run, row.id)
        config = repo.experiment_config(session, experiment=row)
        rows = repo.user_outcomes(session, experiment_id=row.id, pre_period_end=row.started_at)
        repo.stop_experiment(session, experiment=row, at=EXPERIMENT_START + timedelta(days=14))
    return summarize(run, build_report(config, UserOutcomes.from_rows(rows)))


def _store_exposures(session: Session, run: SimulationRun, experiment_id: int) -> None:
    served_at = EXPERIMENT_START + timedelta(days=1)
    exposures = [
        {
            "id": e.exposure_id,
            "experiment_id": experiment_id,
            "user_id": e.user_id,
            "product_id": e.product_id,
            "arm": e.arm,
            "content": e.arm,
            "asset_key": None,
            "served_at": served_at,
        }
        for e in run.exposures
    ]
    events = [
        {
            "event_id": f"{e.exposure_id}-{kind}",
            "user_id": e.user_id,
            "product_id": e.product_id,
            "kind": kind,
            "occurred_at": served_at + timedelta(seconds=5 * step),
            "exposure_id": e.exposure_id,
        }
        for e in run.exposures
        for step, kind in enumerate(("click", "add_to_cart", "purchase"), start=1)
        if getattr(e, kind)
    ]
    for start in range(0, len(exposures), 2000):
        repo.add_exposures(session, exposures=exposures[start : start + 2000])
    for start in range(0, len(events), 5000):
        add_interactions(session, events=events[start : start + 5000])


def summarize(run: SimulationRun, report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures (the JSON ``recgen ab simulate`` writes) plus the full report."""
    ctr = report["comparisons"]["generated"]["ctr"]
    return {
        "true_lift": run.true_lift,
        "lift": ctr["lift"],
        "lift_ci_low": ctr["ci_low"],
        "lift_ci_high": ctr["ci_high"],
        "p_value": ctr["p_value"],
        "srm_p_value": report["srm"]["p_value"],
        "srm_flagged": report["srm"]["flagged"],
        "cuped": report["comparisons"]["generated"].get("ctr_cuped"),
        "arms": {
            name: {
                "users": arm["users"],
                "exposures": arm["exposures"],
                "clicks": arm["click"],
                "add_to_cart": arm["add_to_cart"],
                "purchases": arm["purchase"],
                "ctr": arm["ctr"]["value"],
                "add_to_cart_rate": arm["add_to_cart_rate"]["value"],
                "conversion_rate": arm["conversion_rate"]["value"],
            }
            for name, arm in report["arms"].items()
        },
        "users": len(run.users),
        "report": report,
    }


def true_lift_reference(simulator: Simulator, run: SimulationRun) -> float:
    """``Simulator.true_lift`` itself over this run's exposures (slow; for tests)."""
    people = {u.user_id: u for u in run.users}
    pairs = [(people[e.user_id], e.product_id) for e in run.exposures]
    controls = {uid: served_controls(people[uid]) for uid in run.arms}
    return float(simulator.true_lift(pairs, controls)["relative"])


def coverage(
    simulator_for: Any, seeds: Sequence[int], *, users: int, **kw: Any
) -> tuple[float, npt.NDArray[np.float64]]:
    """Share of seeds whose 95% lift interval covers the true lift, and the true lifts."""
    covered = []
    truths = []
    for seed in seeds:
        result = simulate(simulator_for(seed), users=users, seed=seed, **kw)
        covered.append(result["lift_ci_low"] <= result["true_lift"] <= result["lift_ci_high"])
        truths.append(result["true_lift"])
    return float(np.mean(covered)), np.array(truths)
