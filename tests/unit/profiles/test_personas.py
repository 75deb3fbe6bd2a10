from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recgen.core.errors import IndexLoadError
from recgen.core.types import Product
from recgen.profiles.model import ItemFeatures, ProfileState, UserProfile, make_profile
from recgen.profiles.personas import Personas, tradeoff


def profiles(items: ItemFeatures, products: list[Product], n: int = 60) -> list[UserProfile]:
    rng = np.random.default_rng(3)
    out = []
    for user in range(n):
        state = ProfileState.empty(items)
        # Two taste groups: users favour either the first or the second half of the catalog.
        half = products[: len(products) // 2] if user % 2 else products[len(products) // 2 :]
        for t in range(5):
            state.add(items, product_id=half[int(rng.integers(len(half)))].product_id,
                      kind="click", t=float(t))
        out.append(make_profile(user, state, items, age=30))
    return out


def test_fit_assign_tradeoff_and_round_trip(items: ItemFeatures, products: list[Product],
                                            tmp_path: Path) -> None:
    users = profiles(items, products)
    personas = Personas.fit(users, k=4, model_version="p1")
    assert len(personas) == 4 and sum(p.size for p in personas.personas) == len(users)
    assert all(0 <= personas.persona_for(u.vector) < 4 for u in users)
    figures = tradeoff(personas, users)
    assert figures["generation_saving"] == pytest.approx(1 - 4 / 60)
    assert 0.0 < figures["vector_cosine"] <= 1.0 + 1e-6
    assert figures["controls_agreement"] >= 0.25  # age band (30 -> 25-34) always agrees
    personas.save(tmp_path)
    loaded = Personas.load(tmp_path)
    assert [p.controls for p in loaded.personas] == [p.controls for p in personas.personas]
    assert loaded.persona_for(users[0].vector) == personas.persona_for(users[0].vector)
    (tmp_path / "personas.personas.json").write_text("[]")
    with pytest.raises(IndexLoadError):
        Personas.load(tmp_path)
