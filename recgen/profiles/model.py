"""The profile model (no I/O): a recency-decayed, kind-weighted embedding plus affinities.

A profile is an exponentially decayed sum over a user's events: each event adds
``KIND_WEIGHTS[kind]`` times the product's text vector (and its image features when the
product has a photo), and weight to the product's usage, colour group, article type and tier.
Older weight halves every ``half_life_days``. Because decay is multiplicative, one event
updates the stored sums in O(dimension) (``ProfileState.add``), and a bulk rebuild is one
sparse matrix product (``rebuild_profiles``).

The SQL row stores the unnormalised sums and their reference time so that incremental updates
resume where the last one stopped; ``UserProfile.vector`` is the normalised sum.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recgen.core.types import ASPECTS, USAGES, PersonaControls, Product, age_band_for
from recgen.retrieval.index import FloatMatrix, normalize
from recgen.retrieval.item_vectors import ItemVectors

PROFILE_VERSION = "profile-v1"
KIND_WEIGHTS: Mapping[str, float] = {"view": 0.2, "click": 1.0, "add_to_cart": 2.0,
                                     "purchase": 3.0}
HALF_LIFE_DAYS = 14.0
TIERS = ("budget", "mid", "premium")
AFFINITY_ATTRIBUTES = ("usage", "colour_group", "article_type", "tier")
# Aspect shares by age band (hand-set population prior, rows follow ASPECTS and sum to 1);
# behaviour adds evidence through ASPECT_EVIDENCE. The simulator draws from the same prior.
ASPECT_PRIOR: Mapping[str, tuple[float, ...]] = {
    "18-24": (0.30, 0.15, 0.15, 0.25, 0.15),
    "25-34": (0.30, 0.20, 0.15, 0.20, 0.15),
    "35-49": (0.20, 0.25, 0.25, 0.10, 0.20),
    "50+": (0.15, 0.25, 0.35, 0.05, 0.20),
}
ASPECT_EVIDENCE: Mapping[tuple[str, str], str] = {
    ("usage", "Sports"): "comfort",
    ("usage", "Formal"): "occasion",
    ("usage", "Party"): "occasion",
    ("usage", "Ethnic"): "fabric",
    ("tier", "budget"): "value",
    ("tier", "premium"): "fabric",
}
ProfileSource = Literal["history", "lookalike", "signup", "popularity", "persona"]


@dataclass(frozen=True)
class UserProfile:
    user_id: int
    vector: FloatMatrix  # [D] float32, L2-normalised (zeros when nothing is known)
    affinities: dict[str, dict[str, float]]  # attribute -> value -> share (sums to 1)
    controls: PersonaControls
    taste_vector: tuple[float, ...] | None
    persona_id: int | None = None
    event_count: int = 0
    source: ProfileSource = "history"


class ItemFeatures:
    """Per-product lookups a profile needs: text/image vector rows and attribute codes."""

    def __init__(self, products: Sequence[Product], vectors: ItemVectors) -> None:
        self.vectors = vectors
        self.row_of = vectors.row_of()
        self.image_row_of = vectors.image_row_of()
        self.values: dict[str, tuple[str, ...]] = {}
        by_row: dict[str, npt.NDArray[np.int64]] = {}
        ordered: list[Product | None] = [None] * len(vectors.product_ids)
        for product in products:
            row = self.row_of.get(product.product_id)
            if row is not None:
                ordered[row] = product
        for name in AFFINITY_ATTRIBUTES:
            raw = [_attribute(p, name) if p is not None else "" for p in ordered]
            values = tuple(sorted(set(raw)))
            lookup = {v: i for i, v in enumerate(values)}
            self.values[name] = values
            by_row[name] = np.array([lookup[v] for v in raw], dtype=np.int64)
        self.codes = by_row
        # One-hot [items, values] per attribute, for the bulk rebuild's sparse products.
        self.onehot = {
            name: sp.csr_matrix(
                (np.ones(len(codes)), (np.arange(len(codes)), codes)),
                shape=(len(codes), len(self.values[name])),
            )
            for name, codes in by_row.items()
        }

    @property
    def dimension(self) -> int:
        return int(self.vectors.text.shape[1])

    @property
    def image_dimension(self) -> int | None:
        return None if self.vectors.image is None else int(self.vectors.image.shape[1])


def product_tier(product_id: int) -> str:
    """A price-like tier; the catalog has no price, so it is a stable hash of the id."""
    digest = hashlib.sha256(f"tier:{product_id}".encode()).digest()
    return TIERS[digest[0] % len(TIERS)]


def _attribute(product: Product, name: str) -> str:
    if name == "tier":
        return product_tier(product.product_id)
    return str(getattr(product, name) or "")


@dataclass
class ProfileState:
    """Unnormalised decayed sums at reference time ``t_ref`` (POSIX seconds)."""

    vector: npt.NDArray[np.float64]
    attributes: dict[str, npt.NDArray[np.float64]]
    image: npt.NDArray[np.float64] | None
    image_weight: float = 0.0
    t_ref: float = 0.0
    event_count: int = 0
    half_life_s: float = HALF_LIFE_DAYS * 86400
    _decay_rate: float = field(init=False)

    def __post_init__(self) -> None:
        self._decay_rate = math.log(2) / self.half_life_s

    @classmethod
    def empty(cls, items: ItemFeatures, half_life_days: float = HALF_LIFE_DAYS) -> ProfileState:
        image_dim = items.image_dimension
        return cls(
            vector=np.zeros(items.dimension),
            attributes={a: np.zeros(len(v)) for a, v in items.values.items()},
            image=None if image_dim is None else np.zeros(image_dim),
            half_life_s=half_life_days * 86400,
        )

    def add(self, items: ItemFeatures, *, product_id: int, kind: str, t: float) -> None:
        """Fold one event in: decay the sums to ``t`` if it is newer, then add its weight."""
        row = items.row_of.get(product_id)
        if row is None or kind not in KIND_WEIGHTS:
            return
        weight = KIND_WEIGHTS[kind]
        if t > self.t_ref:
            decay = math.exp(-self._decay_rate * (t - self.t_ref))
            self.vector *= decay
            for values in self.attributes.values():
                values *= decay
            if self.image is not None:
                self.image *= decay
            self.image_weight *= decay
            self.t_ref = t
        else:  # a late event counts as much as its age at t_ref allows
            weight *= math.exp(-self._decay_rate * (self.t_ref - t))
        self.vector += weight * items.vectors.text[row]
        for name, values in self.attributes.items():
            values[items.codes[name][row]] += weight
        image_row = items.image_row_of.get(product_id)
        if image_row is not None and self.image is not None and items.vectors.image is not None:
            self.image += weight * items.vectors.image[image_row]
            self.image_weight += weight
        self.event_count += 1

    def to_row(self) -> dict[str, Any]:
        """Values for a ``user_profiles`` row (vector bytes + JSON sums)."""
        return {
            "model_version": PROFILE_VERSION,
            "vector": self.vector.astype(np.float32).tobytes(),
            "event_count": self.event_count,
            "affinities": {
                "t_ref": self.t_ref,
                "sums": {a: v.round(6).tolist() for a, v in self.attributes.items()},
                "image": None if self.image is None else self.image.round(6).tolist(),
                "image_weight": self.image_weight,
            },
        }

    @classmethod
    def from_row(cls, items: ItemFeatures, *, vector: bytes, affinities: dict[str, Any],
                 event_count: int) -> ProfileState:
        image = affinities.get("image")
        state = cls.empty(items)
        state.vector = np.frombuffer(vector, dtype=np.float32).astype(np.float64)
        state.attributes = {a: np.asarray(v, dtype=np.float64)
                            for a, v in affinities["sums"].items()}
        state.image = None if image is None else np.asarray(image, dtype=np.float64)
        state.image_weight = float(affinities.get("image_weight", 0.0))
        state.t_ref = float(affinities["t_ref"])
        state.event_count = event_count
        return state


def make_profile(
    user_id: int,
    state: ProfileState,
    items: ItemFeatures,
    *,
    age: int | None = None,
    source: ProfileSource = "history",
) -> UserProfile:
    """Normalise a state into a profile with controls and an image taste vector."""
    affinities = {a: _shares(items.values[a], s) for a, s in state.attributes.items()}
    taste = None
    if state.image is not None and state.image_weight > 0:
        taste = tuple(float(x) for x in normalize(state.image)[0])
    return UserProfile(
        user_id=user_id,
        vector=normalize(state.vector)[0],
        affinities=affinities,
        controls=controls_from(affinities, age=age),
        taste_vector=taste,
        event_count=state.event_count,
        source=source,
    )


def _shares(values: tuple[str, ...], sums: npt.NDArray[np.float64]) -> dict[str, float]:
    total = float(sums.sum())
    if total <= 0:
        return {}
    nonzero = np.flatnonzero(sums > 0)  # a user touches few of the ~90 values
    shares = (sums[nonzero] / total).round(4).tolist()
    return {values[i]: share for i, share in zip(nonzero.tolist(), shares, strict=True)
            if values[i]}


def controls_from(affinities: Mapping[str, Mapping[str, float]], *,
                  age: int | None) -> PersonaControls:
    """Text-engine controls: the favourite usage and colour, the age band and an aspect."""
    usage = _favourite(affinities.get("usage", {}), allowed=USAGES)
    colour = _favourite(affinities.get("colour_group", {}))
    band = age_band_for(age) if age is not None else None
    aspect_scores = dict.fromkeys(ASPECTS, 0.0)
    if band is not None:
        aspect_scores.update(zip(ASPECTS, ASPECT_PRIOR[band], strict=True))
    for (attribute, value), aspect in ASPECT_EVIDENCE.items():
        aspect_scores[aspect] += affinities.get(attribute, {}).get(value, 0.0)
    aspect = max(aspect_scores, key=lambda a: aspect_scores[a])
    has_evidence = band is not None or aspect_scores[aspect] > 0
    return PersonaControls(usage=usage, colour_group=colour, age_band=band,
                           aspect=aspect if has_evidence else None)


def _favourite(shares: Mapping[str, float], allowed: Sequence[str] | None = None) -> str | None:
    candidates = {k: v for k, v in shares.items() if allowed is None or k in allowed}
    return max(candidates, key=lambda k: candidates[k]) if candidates else None


@dataclass(frozen=True)
class ProfileBatch:
    """Bulk-rebuilt sums for many users (rows follow ``user_ids``)."""

    user_ids: npt.NDArray[np.int64]
    vectors: FloatMatrix  # [U, D] unnormalised
    attributes: dict[str, npt.NDArray[np.float64]]  # attribute -> [U, values]
    image: FloatMatrix | None  # [U, Di] unnormalised
    image_weight: npt.NDArray[np.float64]
    event_counts: npt.NDArray[np.int64]
    t_ref: float

    def state(self, i: int, half_life_days: float = HALF_LIFE_DAYS) -> ProfileState:
        return ProfileState(
            vector=self.vectors[i].astype(np.float64),
            attributes={a: m[i] for a, m in self.attributes.items()},
            image=None if self.image is None else self.image[i].astype(np.float64),
            image_weight=float(self.image_weight[i]),
            t_ref=self.t_ref,
            event_count=int(self.event_counts[i]),
            half_life_s=half_life_days * 86400,
        )


def rebuild_profiles(
    items: ItemFeatures,
    *,
    user_ids: npt.NDArray[np.int64],
    product_ids: npt.NDArray[np.int64],
    kinds: Sequence[str] | npt.NDArray[np.str_],
    timestamps: npt.NDArray[np.float64],
    t_ref: float | None = None,
    half_life_days: float = HALF_LIFE_DAYS,
) -> ProfileBatch:
    """All users' sums from an event log in one sparse product (same result as ``add``)."""
    kind_array = np.asarray(kinds)
    kind_weight = np.zeros(len(kind_array))
    for kind, weight in KIND_WEIGHTS.items():
        kind_weight[kind_array == kind] = weight
    rows = np.array([items.row_of.get(int(p), -1) for p in product_ids], dtype=np.int64)
    keep = (rows >= 0) & (kind_weight > 0)
    ref = float(timestamps.max()) if t_ref is None else t_ref
    decay = np.exp(-math.log(2) / (half_life_days * 86400) * (ref - timestamps[keep]))
    users, user_col = np.unique(user_ids[keep], return_inverse=True)
    weights = sp.csr_matrix(
        (kind_weight[keep] * decay, (user_col, rows[keep])),
        shape=(len(users), len(items.row_of)),
    )  # [U, items], duplicates summed
    image = None
    image_weight = np.zeros(len(users))
    vectors = items.vectors
    if vectors.image is not None and vectors.image_ids is not None:
        photo_rows = np.array([items.row_of[int(p)] for p in vectors.image_ids if
                               int(p) in items.row_of], dtype=np.int64)
        photo_pick = np.array([int(p) in items.row_of for p in vectors.image_ids], dtype=bool)
        photo_weights = weights[:, photo_rows]
        image = np.asarray(photo_weights @ vectors.image[photo_pick], dtype=np.float32)
        image_weight = np.asarray(photo_weights.sum(axis=1)).ravel()
    return ProfileBatch(
        user_ids=users.astype(np.int64),
        vectors=np.asarray(weights @ vectors.text, dtype=np.float32),
        attributes={a: np.asarray((weights @ m).todense()) for a, m in items.onehot.items()},
        image=image,
        image_weight=image_weight,
        event_counts=np.bincount(user_col, minlength=len(users)).astype(np.int64),
        t_ref=ref,
    )
