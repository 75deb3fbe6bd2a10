"""Personas: FAISS k-means over user embeddings, each with controls and an image taste vector.

Content generated per (product, persona) is shared by every member, so K personas replace one
generation per (product, user); ``tradeoff`` measures what that saves and what it costs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from recgen.core.errors import IndexLoadError
from recgen.core.types import PersonaControls
from recgen.profiles.model import UserProfile
from recgen.retrieval.index import FloatMatrix, VectorIndex, normalize

CONTROL_FIELDS = ("usage", "colour_group", "age_band", "aspect")


@dataclass(frozen=True)
class Persona:
    persona_id: int
    controls: PersonaControls
    taste_vector: tuple[float, ...] | None
    size: int


class Personas:
    """K personas with an exact centroid index (K is small)."""

    def __init__(self, personas: Sequence[Persona], index: VectorIndex) -> None:
        self.personas = list(personas)
        self._by_id = {p.persona_id: p for p in self.personas}
        self.index = index
        self.model_version = index.model_version

    def __len__(self) -> int:
        return len(self.personas)

    @classmethod
    def fit(
        cls,
        profiles: Sequence[UserProfile],
        *,
        k: int,
        model_version: str,
        seed: int = 0,
        iterations: int = 20,
    ) -> Personas:
        vectors = normalize(np.stack([p.vector for p in profiles]))
        k = min(k, len(profiles))
        kmeans = faiss.Kmeans(vectors.shape[1], k, niter=iterations, seed=seed,
                              spherical=True, verbose=False)
        kmeans.train(vectors)
        _, assignment = kmeans.index.search(vectors, 1)
        members: list[list[UserProfile]] = [[] for _ in range(k)]
        for profile, cluster in zip(profiles, assignment[:, 0], strict=True):
            members[int(cluster)].append(profile)
        personas = [_summarise(i, group) for i, group in enumerate(members)]
        centroids: FloatMatrix = np.asarray(kmeans.centroids, dtype=np.float32)
        index = VectorIndex.build(np.arange(k), centroids, model_version=model_version,
                                  exact_threshold=max(k, 1))
        return cls(personas, index)

    def get(self, persona_id: int) -> Persona | None:
        """The persona with this id; None for an id these personas do not have."""
        return self._by_id.get(persona_id)

    def largest(self) -> int:
        """The id of the persona with the most members."""
        return max(self.personas, key=lambda p: p.size).persona_id

    def persona_for(self, vector: npt.ArrayLike) -> int:
        _, ids = self.index.search(vector, 1)
        return int(ids[0, 0])

    def assign(self, vectors: FloatMatrix) -> npt.NDArray[np.int64]:
        _, ids = self.index.search(vectors, 1)
        return np.asarray(ids[:, 0], dtype=np.int64)

    def centroid(self, persona_id: int) -> FloatMatrix:
        return self.index.reconstruct(persona_id)

    def save(self, directory: Path, name: str = "personas") -> None:
        self.index.save(directory, name)
        payload = [
            {**asdict(p), "controls": asdict(p.controls),
             "taste_vector": None if p.taste_vector is None else list(p.taste_vector)}
            for p in self.personas
        ]
        tmp = directory / f"{name}.personas.json.tmp"
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, directory / f"{name}.personas.json")

    @classmethod
    def load(cls, directory: Path, name: str = "personas") -> Personas:
        index = VectorIndex.load(directory, name)
        try:
            raw: list[dict[str, Any]] = json.loads(
                (directory / f"{name}.personas.json").read_text())
            personas = [
                Persona(
                    persona_id=int(p["persona_id"]),
                    controls=PersonaControls(**p["controls"]),
                    taste_vector=None if p["taste_vector"] is None else tuple(p["taste_vector"]),
                    size=int(p["size"]),
                )
                for p in raw
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexLoadError(f"persona file unreadable in {directory}: {exc}") from exc
        if len(personas) != index.count:
            raise IndexLoadError(f"{directory}: {len(personas)} personas, index has {index.count}")
        return cls(personas, index)


def _summarise(persona_id: int, members: Sequence[UserProfile]) -> Persona:
    """Controls: the most common member value per field; taste: the mean member taste."""
    values: dict[str, str | None] = {}
    for name in CONTROL_FIELDS:
        counts = Counter(getattr(p.controls, name) for p in members
                         if getattr(p.controls, name) is not None)
        values[name] = counts.most_common(1)[0][0] if counts else None
    tastes = [p.taste_vector for p in members if p.taste_vector is not None]
    taste = None
    if tastes:
        taste = tuple(float(x) for x in normalize(np.mean(np.array(tastes), axis=0))[0])
    return Persona(persona_id, PersonaControls(**values), taste, len(members))


def tradeoff(personas: Personas, profiles: Sequence[UserProfile]) -> dict[str, float]:
    """What sharing content per persona saves and costs, over these users.

    * ``generation_saving``: 1 - K/U, the share of per-user generations avoided for a product
      shown to all U users.
    * ``vector_cosine``: mean cosine between a user's vector and their persona's centroid
      (1.0 = no loss); ``controls_agreement``: share of control fields equal to the user's own.
    """
    vectors = normalize(np.stack([p.vector for p in profiles]))
    assigned = personas.assign(vectors)
    centroids = normalize(np.stack([personas.centroid(int(i)) for i in range(len(personas))]))
    cosine = np.einsum("ij,ij->i", vectors, centroids[assigned])
    agree = [
        getattr(p.controls, f) == getattr(personas.personas[int(a)].controls, f)
        for p, a in zip(profiles, assigned, strict=True)
        for f in CONTROL_FIELDS
    ]
    return {
        "k": float(len(personas)),
        "users": float(len(profiles)),
        "generation_saving": 1.0 - len(personas) / len(profiles),
        "vector_cosine": float(cosine.mean()),
        "controls_agreement": float(np.mean(agree)),
    }
