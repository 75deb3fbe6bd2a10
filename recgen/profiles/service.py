"""Profiles for the engine: who a user is, from SQL history, look-alikes or sign-up attributes.

``ProfileService`` reads and writes ``user_profiles`` rows through the caller's session (it
never opens or commits one), keeps the user index current as events arrive, and answers
``profile_for``, ``candidates_for`` and ``persona``: it is what the jobs' ``ProfileSource``
asks for. The profile arithmetic lives in
``recgen.profiles.model`` and the candidates path in ``recgen.retrieval.candidates``; this
module adds storage, cold start and the profiles' side of retrieval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session
from tqdm import tqdm

from recgen.core.errors import IndexLoadError
from recgen.core.types import Product, UserEvent
from recgen.profiles.model import (
    PROFILE_VERSION,
    ItemFeatures,
    ProfileBatch,
    ProfileState,
    UserProfile,
    controls_from,
    make_profile,
    rebuild_profiles,
)
from recgen.profiles.personas import Persona, Personas
from recgen.retrieval.candidates import Retriever
from recgen.retrieval.index import FloatMatrix, VectorIndex, normalize
from recgen.retrieval.item_vectors import ItemVectors
from recgen.store.models import UserProfileRow
from recgen.store.repos.interactions import (
    click_counts,
    interactions_for_users,
    iter_interaction_log,
)
from recgen.store.repos.users import (
    count_current_profiles,
    current_profile_vectors,
    get_user,
    get_user_profile,
    get_user_profiles,
    get_users,
    set_profile_personas,
    upsert_user_profiles,
)

__all__ = [
    "ProfileService",
    "UserProfile",
    "lookalike_vector",
    "open_service",
    "signup_vector",
]
logger = logging.getLogger(__name__)
DEFAULT_LOOKALIKES = 20


class HasVector(Protocol):
    """A profile as retrieval sees it (the jobs hand in their own profile type)."""

    @property
    def vector(self) -> npt.ArrayLike: ...


def signup_vector(
    items: ItemFeatures, products: Sequence[Product], *, gender: str | None,
    preferences: dict[str, Any],
) -> FloatMatrix | None:
    """Mean item vector of products matching the sign-up gender and stated preferences."""
    wanted = {k: v for k, v in preferences.items() if k in ("usage", "colour_group") and v}
    if gender is None and not wanted:
        return None
    rows = [
        items.row_of[p.product_id] for p in products
        if p.product_id in items.row_of
        and (gender is None or p.gender in (gender, "Unisex"))
        and all(getattr(p, k) == v for k, v in wanted.items())
    ]
    if not rows:
        return None
    vector: FloatMatrix = normalize(items.vectors.text[rows].mean(axis=0))[0]
    return vector


def lookalike_vector(
    user_index: VectorIndex, seed: npt.ArrayLike, *, k: int = DEFAULT_LOOKALIKES,
    exclude: int | None = None,
) -> tuple[FloatMatrix, list[int]]:
    """Similarity-weighted mean of the k nearest users' vectors, and their ids."""
    scores, ids = user_index.search(seed, k + 1)
    pairs = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True)
             if i >= 0 and i != exclude][:k]
    if not pairs:
        return normalize(np.asarray(seed, dtype=np.float32))[0], []
    weights = np.array([max(s, 0.0) + 1e-6 for s, _ in pairs])
    vectors = np.stack([user_index.reconstruct(i) for _, i in pairs])
    return normalize(weights @ vectors)[0], [i for _, i in pairs]


class ProfileService:
    """Profiles from SQL, kept in step with the user index; cold start from look-alikes."""

    def __init__(
        self,
        items: ItemFeatures,
        products: Sequence[Product],
        *,
        user_index: VectorIndex | None = None,
        retriever: Retriever | None = None,
        personas: Personas | None = None,
        popularity: FloatMatrix | None = None,
        lookalikes: int = DEFAULT_LOOKALIKES,
    ) -> None:
        self.items = items
        self.products = list(products)
        self.user_index = user_index
        self.retriever = retriever
        self.personas = personas
        # Fallback vector for a user with no history and no sign-up attributes.
        self.popularity = popularity
        self.lookalikes = lookalikes

    # ---- reading ------------------------------------------------------------------------
    def profiles_for(self, session: Session, user_ids: Sequence[int]) -> list[UserProfile]:
        """``profile_for`` each user, their profile and user rows read in two queries (a feed
        refresh chunk otherwise pays two round trips per user)."""
        ids = list(dict.fromkeys(int(u) for u in user_ids))
        # Loaded into the session's identity map, where profile_for's lookups by id find them;
        # held here because the map keeps objects only while something references them.
        loaded = (get_user_profiles(session, user_ids=ids), get_users(session, user_ids=ids))
        profiles = [self.profile_for(session, u) for u in user_ids]
        del loaded
        return profiles

    def profile_for(self, session: Session, user_id: int) -> UserProfile:
        row = get_user_profile(session, user_id=user_id)
        user = get_user(session, user_id=user_id)
        age = user.age if user is not None else None
        if row is not None and self._is_current(row):
            state = ProfileState.from_row(self.items, vector=row.vector,
                                          affinities=row.affinities, event_count=row.event_count)
            return self._with_persona(make_profile(user_id, state, self.items, age=age))
        state = self._replay(session, [user_id])[user_id]
        if state.event_count > 0:
            return self._with_persona(make_profile(user_id, state, self.items, age=age))
        prefs = dict(user.signup_preferences or {}) if user is not None else {}
        return self.cold_start(user_id, gender=user.gender if user else None, age=age,
                               preferences=prefs)

    def cold_start(self, user_id: int, *, gender: str | None, age: int | None,
                   preferences: dict[str, Any]) -> UserProfile:
        """Borrow from look-alikes of the sign-up vector, else the sign-up or popular vector,
        else the largest persona's centroid."""
        seed = signup_vector(self.items, self.products, gender=gender, preferences=preferences)
        source: Any = "signup"
        vector = seed
        if seed is not None and self.user_index is not None and self.user_index.count > 0:
            vector, _ = lookalike_vector(self.user_index, seed, k=self.lookalikes,
                                         exclude=user_id)
            source = "lookalike"
        if vector is None:
            vector, source = self.popularity, "popularity"
        if vector is None and self.personas is not None and len(self.personas):
            # Nothing to go on: the most common persona, whose assets its members already
            # share (the shared cold-start feed is made this way), not a zero vector whose
            # assets would be this user's own.
            vector, source = self.personas.centroid(self.personas.largest()), "persona"
        affinities = {k: {str(v): 1.0} for k, v in preferences.items() if v}
        profile = UserProfile(
            user_id=user_id,
            vector=np.zeros(self.items.dimension, np.float32) if vector is None else vector,
            affinities=affinities,
            controls=controls_from(affinities, age=age),
            taste_vector=None,
            source=source,
        )
        return self._with_persona(profile)

    def candidates_for(self, profile: HasVector, k: int,
                       exclude: Iterable[int] = ()) -> list[int]:
        """Top-k product ids for a feed, skipping ``exclude`` (see ``Retriever``)."""
        return self.candidates_many([profile], k, exclude=[exclude])[0]

    def candidates_many(self, profiles: Sequence[HasVector], k: int, *,
                        exclude: Sequence[Iterable[int]] | None = None) -> list[list[int]]:
        """``candidates_for`` each profile, from one search of the item index."""
        if self.retriever is None:
            raise RuntimeError("ProfileService has no retriever")
        if not profiles:
            return []
        vectors = np.stack([np.asarray(p.vector, np.float32) for p in profiles])
        return self.retriever.candidates(vectors, k, exclude=exclude)

    def persona(self, persona_id: int) -> Persona | None:
        """The persona a profile's ``persona_id`` names (None without personas)."""
        return self.personas.get(persona_id) if self.personas is not None else None

    def _with_persona(self, profile: UserProfile) -> UserProfile:
        persona_id = self._persona_for(profile.vector)
        if persona_id is None:
            return profile
        return UserProfile(**{**profile.__dict__, "persona_id": persona_id})

    def _persona_for(self, vector: npt.NDArray[np.float32]) -> int | None:
        if self.personas is None or not np.any(vector):
            return None
        return self.personas.persona_for(vector)

    # ---- writing --------------------------------------------------------------------------
    def record_events(self, session: Session, *,
                      events: Mapping[int, Sequence[UserEvent]]) -> None:
        """Fold each user's new events (user id -> events, in order) into the stored profiles
        and the user index (rows written, no commit). However many users and events: one read
        of their profile rows (and one of the interactions of those without a current row), one
        write and one index upsert.

        Call it after the events are stored (``add_interactions``): a user without a current
        profile row is rebuilt from the stored interactions, which already include them.
        Only the sums, the vector and the persona are written: the controls are made from the
        row when the profile is read (``profile_for``), so they are not made here.
        """
        if not events:
            return
        current = {u: r for u, r in get_user_profiles(session, user_ids=list(events)).items()
                   if self._is_current(r)}
        # Users without a current row: rebuilt from the log, all of them in one query.
        replayed = self._replay(session, [u for u in events if u not in current])
        rows, indexed, vectors = [], [], []
        for user_id, user_events in events.items():
            if user_id in replayed:
                state = replayed[user_id]
            else:
                row = current[user_id]
                state = ProfileState.from_row(self.items, vector=row.vector,
                                              affinities=row.affinities,
                                              event_count=row.event_count)
                for event in user_events:
                    state.add(self.items, product_id=event.product_id, kind=event.kind,
                              t=_ts(event.occurred_at))
            vector = normalize(state.vector)[0]  # the profile's vector, as make_profile makes it
            rows.append({"user_id": user_id, **state.to_row(),
                         "persona_id": self._persona_for(vector)})
            if state.event_count > 0:
                indexed.append(user_id)
                vectors.append(vector)
        upsert_user_profiles(session, profiles=rows)
        if self.user_index is not None and indexed:
            self.user_index.upsert(indexed, np.stack(vectors))

    def _replay(self, session: Session, user_ids: Sequence[int]) -> dict[int, ProfileState]:
        """Each user's profile sums folded from their whole stored log (one query)."""
        if not user_ids:
            return {}
        states: dict[int, ProfileState] = {}
        for user_id, log in interactions_for_users(session, user_ids=user_ids).items():
            state = states[user_id] = ProfileState.empty(self.items)
            for event in log:
                state.add(self.items, product_id=event.product_id, kind=event.kind,
                          t=_ts(event.occurred_at))
        return states

    def rebuild_all(self, session: Session, *, write_batch: int = 2000) -> ProfileBatch:
        """Rebuild every profile from the interaction log and rewrite their rows."""
        log = list(tqdm(iter_interaction_log(session), desc="reading interactions",
                        unit="events"))
        if not log:
            return rebuild_profiles(self.items, user_ids=np.zeros(0, np.int64),
                                    product_ids=np.zeros(0, np.int64), kinds=[],
                                    timestamps=np.zeros(0), t_ref=0.0)
        users, products, kinds, times = zip(*log, strict=True)
        batch = rebuild_profiles(
            self.items,
            user_ids=np.array(users, dtype=np.int64),
            product_ids=np.array(products, dtype=np.int64),
            kinds=np.array(kinds),
            timestamps=np.array([_ts(t) for t in times]),
        )
        vectors = normalize(batch.vectors)
        personas = self.personas.assign(vectors) if self.personas is not None else None
        for start in tqdm(range(0, len(batch.user_ids), write_batch), desc="writing profiles"):
            rows = []
            for i in range(start, min(start + write_batch, len(batch.user_ids))):
                rows.append({"user_id": int(batch.user_ids[i]), **batch.state(i).to_row(),
                             "persona_id": None if personas is None else int(personas[i])})
            upsert_user_profiles(session, profiles=rows)
        return batch

    def assign_personas(self, session: Session, personas: Personas) -> int:
        """Store each current profile's persona id after personas were (re)fitted."""
        ids, vectors = self.stored_vectors(session)
        if len(ids) == 0:
            return 0
        assigned = personas.assign(vectors)
        set_profile_personas(session, personas={
            int(u): int(p) for u, p in zip(ids, assigned, strict=True)})
        self.personas = personas
        return len(ids)

    def _is_current(self, row: UserProfileRow) -> bool:
        """The row's sums can be read and folded into; any other row is rebuilt from the
        events (``count_current_profiles`` makes the same test in SQL)."""
        return (
            row.model_version == PROFILE_VERSION
            and row.event_count > 0
            and len(row.vector) == self._vector_bytes
        )

    @property
    def _vector_bytes(self) -> int:
        # A profile made over another item-vector space (e.g. before image vectors were added)
        # has another length: it is stale, not loadable, and is rebuilt from events on use.
        return self.items.dimension * 4  # float32

    def stored_count(self, session: Session) -> int:
        return count_current_profiles(session, model_version=PROFILE_VERSION,
                                      vector_bytes=self._vector_bytes)

    def save_indexes(self, index_dir: Path) -> None:
        """Persist the in-memory user index (updated per event) so a restart starts current."""
        if self.user_index is not None:
            self.user_index.save(index_dir, "users")

    def stored_vectors(self, session: Session) -> tuple[npt.NDArray[np.int64], FloatMatrix]:
        """(user ids, normalised vectors) of every stored current-version profile."""
        rows = current_profile_vectors(session, model_version=PROFILE_VERSION,
                                       vector_bytes=self._vector_bytes)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, self.items.dimension), np.float32)
        return ids, normalize(np.stack([np.frombuffer(r[1], np.float32) for r in rows]))


def _ts(moment: datetime) -> float:
    # SQLite returns naive datetimes for timezone-aware columns; they were written as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def load_or_rebuild_index(
    directory: Path, name: str, *, model_version: str, dimension: int,
    rebuild: Callable[[], tuple[npt.NDArray[np.int64], FloatMatrix]],
    expected_count: int | None = None,
) -> VectorIndex:
    """Load a verified index; if it is missing, corrupt or stale, rebuild it and save it.

    ``expected_count`` catches a file that is intact but behind SQL (e.g. profiles written
    by another worker since the last save).
    """
    try:
        index = VectorIndex.load(directory, name, expected_dimension=dimension,
                                 expected_model_version=model_version)
        if expected_count is None or index.count == expected_count:
            return index
        logger.warning("rebuilding %s index: %d vectors, SQL has %d", name, index.count,
                       expected_count)
    except IndexLoadError as exc:
        logger.warning("rebuilding %s index: %s", name, exc)
    ids, vectors = rebuild()
    index = VectorIndex.build(ids, vectors.reshape(-1, dimension), model_version=model_version)
    index.save(directory, name)
    return index


def open_service(session: Session, *, index_dir: Path, products: Sequence[Product]
                 ) -> ProfileService:
    """What a worker does at start: load item vectors and indexes, rebuilding bad ones.

    Item vectors need the text model to recompute, so missing ones raise IndexLoadError
    (run ``recgen index rebuild``); the item, user and persona indexes are rebuilt from the
    item vectors and SQL when their files fail verification.
    """
    vectors = ItemVectors.load(index_dir / "items")
    items = ItemFeatures(products, vectors)
    dim = items.dimension
    item_index = load_or_rebuild_index(
        index_dir, "items", model_version=vectors.model_version, dimension=dim,
        rebuild=lambda: (vectors.product_ids, vectors.text))
    # The popularity blend predicted held-out clicks better than cosine alone
    # (bench/retrieval_bench.py); with no clicks stored yet the candidates are the nearest.
    clicks = click_counts(session)
    retriever = Retriever(item_index, popularity=clicks or None)
    service = ProfileService(items, products, retriever=retriever)
    service.user_index = load_or_rebuild_index(
        index_dir, "users", model_version=PROFILE_VERSION, dimension=dim,
        rebuild=lambda: service.stored_vectors(session),
        expected_count=service.stored_count(session))
    try:
        service.personas = Personas.load(index_dir)
    except IndexLoadError as exc:
        logger.warning("no personas (%s); run `recgen index rebuild`", exc)
    return service
