"""The simulated experiment through PostgreSQL gives the same report as in memory."""

from __future__ import annotations

import pytest

from recgen.experiments.simulation import run_in_store, simulate
from recgen.experiments.simulator import Simulator
from recgen.store.db import make_engine, session_factory
from recgen.store.migrate import upgrade
from tests.unit.experiments.test_simulation import catalog

pytestmark = pytest.mark.integration


def test_sql_report_equals_in_memory_report(empty_pg_url: str) -> None:
    upgrade(empty_pg_url)
    products = catalog()
    engine = make_engine(empty_pg_url)
    stored = run_in_store(
        session_factory(engine), Simulator(products, seed=4), products, users=400, seed=4
    )
    engine.dispose()
    memory = simulate(Simulator(products, seed=4), users=400, seed=4)
    assert stored["arms"] == memory["arms"]
    for key in ("true_lift", "lift", "lift_ci_low", "lift_ci_high", "p_value", "srm_p_value"):
        assert stored[key] == pytest.approx(memory[key], rel=1e-9), key
    assert stored["cuped"]["lift"] == pytest.approx(memory["cuped"]["lift"], rel=1e-9)
    assert stored["cuped"]["variance_reduction"] > 0
