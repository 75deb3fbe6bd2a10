from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recgen.core.types import ExperimentConfig
from recgen.experiments.analysis import UserOutcomes, build_report
from recgen.experiments.assignment import assign, validate_arms


def config(**kw: object) -> ExperimentConfig:
    base: dict[str, object] = {
        "experiment_id": 1,
        "name": "gen-vs-stock",
        "salt": "s1",
        "traffic_share": 1.0,
        "arms": (("generated", 0.5), ("stock", 0.5)),
    }
    base.update(kw)
    return ExperimentConfig(**base)  # type: ignore[arg-type]


def test_assignment_is_balanced_within_one_percent_over_100k_users() -> None:
    counts = Counter(assign(config(), uid) for uid in range(100_000))
    assert set(counts) == {"generated", "stock"}
    assert abs(counts["generated"] / 100_000 - 0.5) < 0.01


def test_assignment_follows_weights_and_traffic_share() -> None:
    cfg = config(traffic_share=0.4, arms=(("generated", 0.2), ("stock", 0.8)))
    counts = Counter(assign(cfg, uid) for uid in range(50_000))
    assert counts[None] / 50_000 == pytest.approx(0.6, abs=0.01)
    assert counts["generated"] / (50_000 - counts[None]) == pytest.approx(0.2, abs=0.01)


def test_assignment_is_stable_and_widening_traffic_moves_nobody() -> None:
    narrow, wide = config(traffic_share=0.3), config(traffic_share=0.6)
    for uid in range(5_000):
        arm = assign(narrow, uid)
        assert assign(narrow, uid) == arm
        if arm is not None:
            assert assign(wide, uid) == arm


def test_salt_decorrelates_experiments() -> None:
    a, b = config(salt="a"), config(salt="b")
    same = sum(assign(a, uid) == assign(b, uid) for uid in range(20_000))
    assert same / 20_000 == pytest.approx(0.5, abs=0.02)


def test_forced_user_gets_the_forced_arm() -> None:
    cfg = config(traffic_share=0.0, forced={42: "generated"})
    assert assign(cfg, 42) == "generated"
    assert assign(cfg, 43) is None


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ({"stock": 1.0}, "both arms"),
        ({"stock": 1.0, "fancy": 1.0}, "unknown arm"),
        ({"stock": 1.0, "generated": 0.0}, r"in \(0, 1e\+06\]"),
        ({"stock": 1.0, "generated": 1e308}, r"in \(0, 1e\+06\]"),
    ],
)
def test_bad_arms_are_refused(arms: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_arms(arms)


def test_report_counts_rates_lift_and_srm() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    arms = np.where(rng.random(n) < 0.5, "generated", "stock")
    exposures = rng.integers(1, 8, size=n).astype(float)
    p = np.where(arms == "generated", 0.12, 0.10)
    clicks = rng.binomial(exposures.astype(int), p).astype(float)
    carts = rng.binomial(clicks.astype(int), 0.3).astype(float)
    buys = rng.binomial(carts.astype(int), 0.5).astype(float)
    data = UserOutcomes(
        arms=arms.astype(np.str_),
        exposures=exposures,
        outcomes={"click": clicks, "add_to_cart": carts, "purchase": buys},
        pre_period=rng.poisson(2, size=n).astype(float),
    )
    report = build_report(config(), data)
    gen, stock = report["arms"]["generated"], report["arms"]["stock"]
    assert gen["users"] + stock["users"] == n
    assert gen["exposures"] == int(exposures[arms == "generated"].sum())
    assert gen["ctr"]["value"] == pytest.approx(gen["click"] / gen["exposures"])
    assert gen["ctr"]["ci_low"] < gen["ctr"]["value"] < gen["ctr"]["ci_high"]
    ctr = report["comparisons"]["generated"]["ctr"]
    assert ctr["lift"] == pytest.approx(gen["ctr"]["value"] / stock["ctr"]["value"] - 1)
    assert ctr["ci_low"] < ctr["lift"] < ctr["ci_high"]
    assert 0 <= ctr["p_value"] <= 1
    assert "ctr_cuped" in report["comparisons"]["generated"]
    assert not report["srm"]["flagged"]


def test_report_on_an_empty_arm_has_nulls_not_nan() -> None:
    data = UserOutcomes(
        arms=np.array(["stock"], dtype=np.str_),
        exposures=np.array([3.0]),
        outcomes={k: np.array([1.0]) for k in ("click", "add_to_cart", "purchase")},
        pre_period=np.array([0.0]),
    )
    report = build_report(config(), data)
    assert report["arms"]["generated"]["ctr"]["value"] is None
    assert report["comparisons"]["generated"]["ctr"]["lift"] is None
