"""Fakes for unit tests only: deterministic stand-ins for the models and the profile service."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from recgen.core.types import (
    GateResult,
    GeneratedImage,
    GeneratedText,
    ImageRequest,
    PersonaControls,
    Product,
    TextRequest,
    UserEvent,
)


def product(pid: int, article: str = "Tshirts") -> Product:
    return Product(
        product_id=pid,
        gender="Men",
        master_category="Apparel",
        sub_category="Topwear",
        article_type=article,
        base_colour="Navy Blue",
        colour_group="Blue",
        season="Summer",
        usage="Casual",
        title=f"Stock title {pid}",
    )


@dataclass
class FakeText:
    version: str = "t1"
    name: str = "fake-text"
    fail_products: set[int] = field(default_factory=set)
    reject_products: set[int] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)  # batch sizes

    def generate(self, requests: Sequence[TextRequest]) -> list[GeneratedText]:
        self.calls.append(len(requests))
        if any(r.product.product_id in self.fail_products for r in requests):
            raise RuntimeError("text model exploded")
        return [
            GeneratedText(
                text=f"{r.product.title} for {r.controls.usage} #{r.seed}",
                gate=GateResult(
                    r.product.product_id not in self.reject_products,
                    () if r.product.product_id not in self.reject_products else ("off_topic",),
                ),
                model_name=self.name,
                model_version=self.version,
                seed=r.seed,
            )
            for r in requests
        ]


@dataclass
class FakeImage:
    version: str = "i1"
    name: str = "fake-image"
    fail_products: set[int] = field(default_factory=set)
    calls: list[int] = field(default_factory=list)

    def generate(self, requests: Sequence[ImageRequest]) -> list[GeneratedImage]:
        self.calls.append(len(requests))
        if any(r.product.product_id in self.fail_products for r in requests):
            raise RuntimeError("image model exploded")
        return [
            GeneratedImage(
                png=b"\x89PNG" + hashlib.sha1(f"{r.product.product_id}:{r.seed}".encode()).digest(),
                gate=GateResult(True),
                model_name=self.name,
                model_version=self.version,
                seed=r.seed,
            )
            for r in requests
        ]


@dataclass(frozen=True)
class FakeProfile:
    user_id: int
    vector: Any
    controls: PersonaControls
    taste_vector: tuple[float, ...] | None
    persona_id: int | None


@dataclass(frozen=True)
class FakePersona:
    persona_id: int
    controls: PersonaControls
    taste_vector: tuple[float, ...] | None


@dataclass
class FakeProfiles:
    """Users map to persona ``user_id % personas``; candidates are fixed per persona."""

    candidates: dict[int, list[int]]
    personas: int = 2
    # One entry per record_events call: {user id: [(product id, kind), ...]}.
    folds: list[dict[int, list[tuple[int, str]]]] = field(default_factory=list)

    def profile_for(self, session: Session, user_id: int) -> FakeProfile:
        pid = user_id % self.personas
        return FakeProfile(user_id, [0.5, 0.5], PersonaControls(usage="Casual"), (0.1,), pid)

    def profiles_for(self, session: Session, user_ids: Sequence[int]) -> list[FakeProfile]:
        return [self.profile_for(session, u) for u in user_ids]

    def candidates_many(self, profiles: Sequence[FakeProfile], k: int) -> list[list[int]]:
        return [self.candidates[p.persona_id or 0][:k] for p in profiles]

    def persona(self, persona_id: int) -> FakePersona | None:
        return FakePersona(persona_id, PersonaControls(usage="Formal"), (float(persona_id),))

    def record_events(
        self, session: Session, *, events: Mapping[int, Sequence[UserEvent]]
    ) -> None:
        self.folds.append(
            {user: [(e.product_id, e.kind) for e in user_events]
             for user, user_events in events.items()}
        )
