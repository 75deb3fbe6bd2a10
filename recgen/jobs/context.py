"""What a job runs with: the collaborators in :class:`JobContext` and the protocols of the
profiles service as the jobs see it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from recgen.core.types import PersonaControls, UserEvent
from recgen.generation.cache import AssetCache
from recgen.generation.engine import GenerationEngine


class ProfileLike(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def vector(self) -> Any: ...
    @property
    def controls(self) -> PersonaControls: ...
    @property
    def taste_vector(self) -> tuple[float, ...] | None: ...
    @property
    def persona_id(self) -> int | None: ...


class PersonaLike(Protocol):
    @property
    def persona_id(self) -> int: ...
    @property
    def controls(self) -> PersonaControls: ...
    @property
    def taste_vector(self) -> tuple[float, ...] | None: ...


class ProfileSource(Protocol):
    """What the jobs need of the profiles service (sessions are the caller's)."""

    def profile_for(self, session: Session, user_id: int) -> ProfileLike: ...
    def profiles_for(self, session: Session, user_ids: Sequence[int]) -> Sequence[ProfileLike]: ...
    def candidates_many(self, profiles: Sequence[ProfileLike], k: int) -> list[list[int]]: ...
    def persona(self, persona_id: int) -> PersonaLike | None: ...
    def record_events(
        self, session: Session, *, events: Mapping[int, Sequence[UserEvent]]
    ) -> None: ...


@dataclass
class JobContext:
    engine: GenerationEngine
    cache: AssetCache
    sessions: sessionmaker[Session]
    profiles: ProfileSource
    persona_sharing: bool = True
    feed_size: int = 10
    feed_max_age_s: float = 24 * 3600.0
    lock_ttl_s: float = 120.0
    lock_wait_s: float = 10.0
