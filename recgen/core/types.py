"""Frozen value types shared across layers (store, models, engine, transport).

They carry no behaviour beyond validation so that every layer can import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

GENDERS = ("Men", "Women", "Unisex", "Boys", "Girls")
USAGES = ("Casual", "Sports", "Ethnic", "Formal", "Smart Casual", "Party", "Travel")
SEASONS = ("Summer", "Fall", "Winter", "Spring")
# Aspects shoppers talk about (from the reviews data); the text engine's persona control.
ASPECTS = ("fit", "fabric", "comfort", "occasion", "value")
AGE_BANDS = ("18-24", "25-34", "35-49", "50+")
INTERACTION_KINDS = ("view", "click", "add_to_cart", "purchase")
AssetKind = Literal["text", "image"]


def age_band_for(age: int) -> str:
    if age < 25:
        return "18-24"
    if age < 35:
        return "25-34"
    if age < 50:
        return "35-49"
    return "50+"


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog product: the attributes generation is conditioned on, plus stock content.

    The fields after ``image_path`` come from the shop's copy (descriptions.jsonl); None means
    not loaded. ``attributes`` are the cleaned articleAttributes, ``description`` the cleaned
    copy, ``facts`` what the copy states (composition, closure, ...), ``copy_consistent``
    whether the copy agrees with the attributes. The mappings are left out of the hash.
    """

    product_id: int
    gender: str
    master_category: str
    sub_category: str
    article_type: str
    base_colour: str
    colour_group: str
    season: str | None
    usage: str | None
    title: str
    image_path: str | None = None
    brand: str | None = None
    price: float | None = None
    discounted_price: float | None = None
    attributes: Mapping[str, str] | None = field(default=None, hash=False)
    description: str | None = None
    facts: Mapping[str, str] | None = field(default=None, hash=False)
    copy_consistent: bool | None = None


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One of a user's stored interactions, as it is folded into their profile."""

    product_id: int
    kind: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class PersonaControls:
    """Interpretable personalization controls derived from a user profile or persona.

    Any field may be None (unknown); the text model then conditions on "no preference".
    """

    usage: str | None = None
    colour_group: str | None = None
    age_band: str | None = None
    aspect: str | None = None

    def __post_init__(self) -> None:
        if self.usage is not None and self.usage not in USAGES:
            raise ValueError(f"usage must be one of {USAGES}, got {self.usage!r}")
        if self.age_band is not None and self.age_band not in AGE_BANDS:
            raise ValueError(f"age_band must be one of {AGE_BANDS}, got {self.age_band!r}")
        if self.aspect is not None and self.aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {ASPECTS}, got {self.aspect!r}")


@dataclass(frozen=True, slots=True)
class GateResult:
    """Outcome of a fidelity/safety gate; ``reasons`` explains every rejection."""

    passed: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TextRequest:
    product: Product
    controls: PersonaControls
    seed: int
    # Optional continuous user-profile embedding (PEPLER-style prefix); None = not used.
    profile_vector: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class ImageRequest:
    product: Product
    seed: int
    # The user's image taste (mean image features of products they engaged with).
    taste_vector: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class GeneratedText:
    text: str
    gate: GateResult
    model_name: str
    model_version: str
    seed: int


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    png: bytes
    gate: GateResult
    model_name: str
    model_version: str
    seed: int
    predicted_article_type: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


# A/B experiments: the thing under test is the content itself, so arms are named after what
# they show.
Content = Literal["generated", "stock"]
ARMS: tuple[Content, ...] = ("stock", "generated")
CONTROL_ARM: Content = "stock"


@dataclass(frozen=True, slots=True)
class ExperimentConfig:
    """What assignment needs to know about one experiment (immutable snapshot)."""

    experiment_id: int
    name: str
    salt: str
    traffic_share: float
    arms: tuple[tuple[str, float], ...]
    status: str = "running"
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    forced: Mapping[int, str] = field(default_factory=dict)

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.arms)
