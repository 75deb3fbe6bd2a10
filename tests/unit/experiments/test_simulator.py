from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recgen.core.types import PersonaControls, Product
from recgen.experiments.simulator import GENERATED_LOGIT_UPLIFT, Simulator, user_rows


def test_seeded_and_reproducible(product_maker: Callable[[int], list[Product]]) -> None:
    products = product_maker(200)
    a, b = Simulator(products, seed=5), Simulator(products, seed=5)
    log_a = a.events(a.users(30), views_per_user=6)
    log_b = b.events(b.users(30), views_per_user=6)
    assert np.array_equal(log_a.product_ids, log_b.product_ids)
    assert list(log_a.kinds) == list(log_b.kinds)
    other = Simulator(products, seed=6)
    assert not np.array_equal(other.events(other.users(30), views_per_user=6).product_ids[:50],
                              log_a.product_ids[:50])


def test_events_follow_taste_and_funnel(product_maker: Callable[[int], list[Product]]) -> None:
    sim = Simulator(product_maker(200), seed=1)
    users = sim.users(40)
    log = sim.events(users, views_per_user=30)
    kinds = list(log.kinds)
    assert kinds.count("view") > kinds.count("click") >= kinds.count("purchase")
    # Viewed products score higher on the user's own taste than on another user's.
    own, other = [], []
    for i, user in enumerate(users):
        rows = np.array([sim.catalog.row_of[int(p)] for p in
                         log.product_ids[(log.user_ids == user.user_id)]])
        own.append(sim.taste_score(user, rows).mean())
        other.append(sim.taste_score(users[(i + 1) % len(users)], rows).mean())
    assert np.mean(own) > np.mean(other) + 0.5
    first = next(log.as_dicts())
    assert first["event_id"] == "sim1-0" and first["occurred_at"].tzinfo is not None
    assert {r["id"] for r in user_rows(users)} == {u.user_id for u in users}


def test_generated_content_uplift_is_the_documented_ground_truth(
    product_maker: Callable[[int], list[Product]],
) -> None:
    sim = Simulator(product_maker(200), seed=2)
    user = sim.users(1)[0]
    pid = [int(sim.catalog.product_ids[0])]
    truth = sim.true_controls(user)
    stock = sim.click_probability(user, pid)[0]
    matched = sim.click_probability(user, pid, "generated", truth)[0]
    unmatched = sim.click_probability(user, pid, "generated", PersonaControls())[0]
    assert unmatched == stock
    logit = np.log(stock / (1 - stock)) + GENERATED_LOGIT_UPLIFT
    assert np.isclose(matched, 1 / (1 + np.exp(-logit)))
    lift = sim.true_lift([(user, pid[0])], {user.user_id: truth})
    assert np.isclose(lift["absolute"], matched - stock)
