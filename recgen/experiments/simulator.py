"""A seeded user simulator over the real catalog: who likes what, what they do, how they respond.

Preference model (documented in docs/profiles.md; every constant is here):

* Each product has attributes article type, colour group, usage (from styles.csv) and a
  price-like ``tier`` (the catalog has no price, so a tier is assigned from a hash of the id).
  Each product also has a latent popularity ``pop ~ LogNormal(0, POPULARITY_SIGMA)``.
* A user has a gender (which products they shop), an age (age band), a preferred aspect
  (drawn from an age-band prior) and, for each attribute ``a``, a taste distribution
  ``theta_a ~ Dirichlet(TASTE_CONCENTRATION * catalog_share_a + TASTE_FLOOR)``: most users
  like a few article types/colours, in proportion to what the catalog offers.
* Views: with probability EXPLORE a product drawn by popularity alone, otherwise
  ``P(p) ∝ pop(p) * prod_a theta_a[a(p)]`` over products of the user's gender (+ Unisex).
* A viewed product is clicked with ``sigmoid(CLICK_BIAS + CLICK_SLOPE * score(u, p))`` where
  ``score = sum_a clip(log(K_a * theta_a[a(p)]), -3, 3)`` (taste relative to uniform).
  Clicked products go to cart with CART_RATE, carted ones are bought with PURCHASE_RATE.
* Content response (the A/B ground truth): generated content conditioned on controls adds
  ``GENERATED_LOGIT_UPLIFT * m`` to the click logit, ``m`` = the fraction of the four controls
  (usage, colour group, age band, aspect) equal to the user's true ones; stock content adds 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from recgen.core.types import ASPECTS, USAGES, PersonaControls, Product, age_band_for
from recgen.profiles.model import ASPECT_PRIOR, product_tier
from recgen.store.db import session_scope
from recgen.store.repos.interactions import add_interactions
from recgen.store.repos.users import upsert_users

POPULARITY_SIGMA = 1.0
TASTE_CONCENTRATION = 2.0
TASTE_FLOOR = 0.02
EXPLORE = 0.2
CLICK_BIAS = -2.0
CLICK_SLOPE = 0.35
CART_RATE = 0.25
PURCHASE_RATE = 0.5
GENERATED_LOGIT_UPLIFT = 0.6
SIGNUP_PREFERENCE_RATE = 0.5
TASTE_ATTRIBUTES = ("article_type", "colour_group", "usage", "tier")
Content = Literal["generated", "stock"]


def _attribute(product: Product, name: str) -> str:
    if name == "tier":
        return product_tier(product.product_id)
    return str(getattr(product, name) or "")


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


class SimCatalog:
    """The catalog as integer codes per attribute, plus latent popularity."""

    def __init__(self, products: Sequence[Product], *, seed: int) -> None:
        rng = np.random.default_rng([seed, 1])
        self.products = list(products)
        self.product_ids = np.array([p.product_id for p in products], dtype=np.int64)
        self.row_of = {int(pid): row for row, pid in enumerate(self.product_ids)}
        self.values: dict[str, tuple[str, ...]] = {}
        self.codes: dict[str, npt.NDArray[np.int64]] = {}
        for name in TASTE_ATTRIBUTES:
            raw = [_attribute(p, name) for p in products]
            values = tuple(sorted(set(raw)))
            lookup = {v: i for i, v in enumerate(values)}
            self.values[name] = values
            self.codes[name] = np.array([lookup[v] for v in raw], dtype=np.int64)
        self.gender = np.array([p.gender for p in products])
        self.popularity = rng.lognormal(0.0, POPULARITY_SIGMA, size=len(products))

    def share(self, name: str) -> npt.NDArray[np.float64]:
        counts = np.bincount(self.codes[name], minlength=len(self.values[name]))
        return np.asarray(counts / counts.sum(), dtype=np.float64)

    def shoppable(self, gender: str) -> npt.NDArray[np.bool_]:
        return np.asarray((self.gender == gender) | (self.gender == "Unisex"))


@dataclass(frozen=True)
class SimUser:
    user_id: int
    gender: str
    age: int
    aspect: str
    # Log taste per attribute, indexed by the SimCatalog code of each value.
    log_taste: dict[str, npt.NDArray[np.float64]]
    signup_preferences: dict[str, str]

    @property
    def age_band(self) -> str:
        return age_band_for(self.age)


class Simulator:
    """Draws users and their events; scores clicks for stock and generated content."""

    def __init__(self, products: Sequence[Product], *, seed: int = 0) -> None:
        self.seed = seed
        self.catalog = SimCatalog(products, seed=seed)
        # Pre-computed log(K_a) for the taste-vs-uniform score.
        self._log_k = {a: float(np.log(len(self.catalog.values[a]))) for a in TASTE_ATTRIBUTES}
        self._log_pop = np.log(self.catalog.popularity)
        self._masks: dict[str, npt.NDArray[np.bool_]] = {}

    def _shoppable(self, gender: str) -> npt.NDArray[np.bool_]:
        if gender not in self._masks:
            mask = self.catalog.shoppable(gender)
            # A catalog with nothing for this gender: let the user browse all of it.
            self._masks[gender] = mask if mask.any() else np.ones_like(mask)
        return self._masks[gender]

    # ---- users --------------------------------------------------------------------------
    def users(self, count: int, *, first_id: int = 1) -> list[SimUser]:
        rng = np.random.default_rng([self.seed, 2])
        genders = rng.choice(
            ["Men", "Women", "Boys", "Girls"], p=[0.48, 0.46, 0.03, 0.03], size=count
        )
        ages = np.clip(rng.normal(33, 11, size=count), 16, 75).astype(int)
        alphas = {
            a: TASTE_CONCENTRATION * self.catalog.share(a) + TASTE_FLOOR for a in TASTE_ATTRIBUTES
        }
        users = []
        for i in range(count):
            log_taste = {a: np.log(rng.dirichlet(alphas[a]) + 1e-12) for a in TASTE_ATTRIBUTES}
            age = int(ages[i])
            aspect = str(rng.choice(ASPECTS, p=ASPECT_PRIOR[age_band_for(age)]))
            user = SimUser(first_id + i, str(genders[i]), age, aspect, log_taste, {})
            if rng.random() < SIGNUP_PREFERENCE_RATE:
                truth = self.true_controls(user)
                prefs = {"usage": truth.usage or "", "colour_group": truth.colour_group or ""}
                user = SimUser(user.user_id, user.gender, age, aspect, log_taste, prefs)
            users.append(user)
        return users

    def true_controls(self, user: SimUser) -> PersonaControls:
        """The user's true favourite usage/colour, age band and aspect."""
        usage = self.catalog.values["usage"][int(np.argmax(user.log_taste["usage"]))]
        colour = self.catalog.values["colour_group"][int(np.argmax(user.log_taste["colour_group"]))]
        return PersonaControls(
            usage=usage if usage in USAGES else None,
            colour_group=colour or None,
            age_band=user.age_band,
            aspect=user.aspect,
        )

    # ---- behaviour ----------------------------------------------------------------------
    def taste_score(self, user: SimUser, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        score = np.zeros(len(rows))
        for a in TASTE_ATTRIBUTES:
            score += np.clip(user.log_taste[a][self.catalog.codes[a][rows]] + self._log_k[a], -3, 3)
        return score

    def view_distribution(self, user: SimUser) -> npt.NDArray[np.float64]:
        """P(view = product row) for this user (taste mixture with popularity)."""
        cat = self.catalog
        mask = self._shoppable(user.gender)
        log_w = self._log_pop
        for a in TASTE_ATTRIBUTES:
            log_w = log_w + user.log_taste[a][cat.codes[a]]
        taste = np.where(mask, np.exp(log_w - log_w[mask].max()), 0.0)
        pop = np.where(mask, cat.popularity, 0.0)
        return np.asarray(
            (1 - EXPLORE) * taste / taste.sum() + EXPLORE * pop / pop.sum(), dtype=np.float64
        )

    def click_probability(
        self,
        user: SimUser,
        product_ids: Sequence[int] | npt.NDArray[np.int64],
        content: Content = "stock",
        controls: PersonaControls | None = None,
    ) -> npt.NDArray[np.float64]:
        """P(click | shown) for each product, for stock or generated content."""
        rows = np.array([self.catalog.row_of[int(p)] for p in product_ids], dtype=np.int64)
        logit = CLICK_BIAS + CLICK_SLOPE * self.taste_score(user, rows)
        if content == "generated":
            logit = logit + GENERATED_LOGIT_UPLIFT * self.control_match(user, controls)
        return _sigmoid(logit)

    def control_match(self, user: SimUser, controls: PersonaControls | None) -> float:
        if controls is None:
            return 0.0
        truth = self.true_controls(user)
        fields = ("usage", "colour_group", "age_band", "aspect")
        return float(sum(getattr(controls, f) == getattr(truth, f) is not None for f in fields) / 4)

    def true_lift(
        self,
        exposures: Sequence[tuple[SimUser, int]],
        controls_for: dict[int, PersonaControls],
    ) -> dict[str, float]:
        """Expected CTR of stock vs generated content over the same (user, product) exposures."""
        stock = np.array([self.click_probability(u, [p])[0] for u, p in exposures])
        generated = np.array(
            [
                self.click_probability(u, [p], "generated", controls_for.get(u.user_id))[0]
                for u, p in exposures
            ]
        )
        ctr_s, ctr_g = float(stock.mean()), float(generated.mean())
        return {
            "ctr_stock": ctr_s,
            "ctr_generated": ctr_g,
            "absolute": ctr_g - ctr_s,
            "relative": ctr_g / ctr_s - 1.0,
        }

    def events(
        self,
        users: Sequence[SimUser],
        *,
        views_per_user: float = 10.0,
        days: float = 30.0,
        end: datetime | None = None,
    ) -> EventLog:
        """Views (Poisson count, at least one), clicks, carts, purchases, time-ordered per user."""
        rng = np.random.default_rng([self.seed, 3])
        end_ts = (end or datetime(2026, 11, 1, tzinfo=UTC)).timestamp()
        cols: dict[str, list[Any]] = {"user": [], "row": [], "kind": [], "t": []}
        for user in users:
            n = max(1, int(rng.poisson(views_per_user)))
            rows = rng.choice(len(self.catalog.product_ids), size=n, p=self.view_distribution(user))
            times = np.sort(end_ts - rng.random(n) * days * 86400)
            p_click = self.click_probability(user, self.catalog.product_ids[rows])
            for row, t, pc in zip(rows, times, p_click, strict=True):
                kinds = ["view"]
                if rng.random() < pc:
                    kinds.append("click")
                    if rng.random() < CART_RATE:
                        kinds.append("add_to_cart")
                        if rng.random() < PURCHASE_RATE:
                            kinds.append("purchase")
                for step, kind in enumerate(kinds):
                    cols["user"].append(user.user_id)
                    cols["row"].append(row)
                    cols["kind"].append(kind)
                    cols["t"].append(t + 5.0 * step)
        return EventLog(
            user_ids=np.array(cols["user"], dtype=np.int64),
            product_ids=self.catalog.product_ids[np.array(cols["row"], dtype=np.int64)],
            kinds=np.array(cols["kind"]),
            timestamps=np.array(cols["t"], dtype=np.float64),
            seed=self.seed,
        )


@dataclass(frozen=True)
class EventLog:
    """Columnar events; ``timestamps`` are POSIX seconds."""

    user_ids: npt.NDArray[np.int64]
    product_ids: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.str_]
    timestamps: npt.NDArray[np.float64]
    seed: int

    def __len__(self) -> int:
        return len(self.user_ids)

    def as_dicts(self) -> Iterator[dict[str, Any]]:
        """Rows for ``add_interactions``; event ids are stable so re-loading is idempotent."""
        for i in range(len(self)):
            yield {
                "event_id": f"sim{self.seed}-{i}",
                "user_id": int(self.user_ids[i]),
                "product_id": int(self.product_ids[i]),
                "kind": str(self.kinds[i]),
                "occurred_at": datetime.fromtimestamp(float(self.timestamps[i]), UTC),
            }


def user_rows(users: Sequence[SimUser]) -> list[dict[str, Any]]:
    """Rows for ``upsert_users`` (sign-up attributes only; the tastes stay hidden)."""
    created = datetime(2026, 9, 1, tzinfo=UTC) - timedelta(days=1)
    return [
        {
            "id": u.user_id,
            "gender": u.gender,
            "age": u.age,
            "signup_preferences": dict(u.signup_preferences),
            "created_at": created,
        }
        for u in users
    ]


def store_population(
    factory: sessionmaker[Session],
    people: Sequence[SimUser],
    log: EventLog,
    *,
    batch_size: int = 5000,
    on_rows: Callable[[int], None] | None = None,
) -> None:
    """Write simulated users, then their events, to the store, one transaction per batch.

    Idempotent: users are upserted and events carry ids, so a rerun stores nothing twice.
    """
    rows = user_rows(people)
    for start in range(0, len(rows), batch_size):
        with session_scope(factory) as session:
            upsert_users(session, users=rows[start : start + batch_size])
        if on_rows is not None:
            on_rows(len(rows[start : start + batch_size]))
    events = list(log.as_dicts())
    for start in range(0, len(events), batch_size):
        with session_scope(factory) as session:
            add_interactions(session, events=events[start : start + batch_size])
        if on_rows is not None:
            on_rows(len(events[start : start + batch_size]))
