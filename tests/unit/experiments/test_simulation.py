"""The simulated experiment: its truth is the simulator's, and its interval covers it."""

from __future__ import annotations

import pytest

from recgen.core.types import USAGES, Product
from recgen.experiments.simulation import (
    coverage,
    outcomes_in_memory,
    run_simulation,
    simulate,
    true_lift_reference,
)
from recgen.experiments.simulator import Simulator

ARTICLES = ("Tshirts", "Shirts", "Jeans", "Watches", "Kurtas", "Casual Shoes", "Handbags", "Tops")
COLOURS = (("Navy Blue", "Blue"), ("Red", "Red"), ("Black", "Black"), ("White", "White"))


def catalog(n: int = 200) -> list[Product]:
    """A small catalog that varies every attribute the simulator's tastes are over."""
    return [
        Product(
            i,
            ("Men", "Women", "Unisex")[i % 3],
            "Apparel",
            "Topwear",
            ARTICLES[i % 8],
            *COLOURS[(i // 8) % 4],
            "Summer",
            USAGES[(i // 3) % len(USAGES)],
            f"Title {i}",
        )
        for i in range(1, n + 1)
    ]


def test_true_lift_is_the_simulators() -> None:
    simulator = Simulator(catalog(), seed=3)
    run = run_simulation(simulator, users=150, seed=3, pre_period=False)
    assert run.true_lift == pytest.approx(true_lift_reference(simulator, run), rel=1e-9)
    assert run.true_lift > 0  # generated content conditioned on known controls helps


def test_run_is_deterministic_and_goes_through_assignment() -> None:
    products = catalog()
    a = simulate(Simulator(products, seed=5), users=300, seed=5)
    b = simulate(Simulator(products, seed=5), users=300, seed=5)
    assert a["lift"] == b["lift"] and a["arms"] == b["arms"]
    assert a["arms"]["generated"]["users"] + a["arms"]["stock"]["users"] == 300
    assert {"true_lift", "lift", "lift_ci_low", "lift_ci_high", "p_value", "srm_p_value"} <= set(a)
    assert a["cuped"] is not None and a["cuped"]["variance_reduction"] >= 0


def test_traffic_share_keeps_users_out() -> None:
    run = run_simulation(
        Simulator(catalog(), seed=1), users=400, seed=1, traffic_share=0.5, pre_period=False
    )
    assert 150 < len(run.arms) < 250
    data = outcomes_in_memory(run)
    assert len(data.arms) == len(run.arms) and data.exposures.sum() == len(run.exposures)


@pytest.mark.slow
def test_the_95_percent_interval_covers_the_true_lift_about_95_percent_of_the_time() -> None:
    products = catalog()
    share, truths = coverage(
        lambda s: Simulator(products, seed=s), range(100), users=300, pre_period=False
    )
    assert truths.min() > 0
    assert 0.89 <= share <= 0.99, share
