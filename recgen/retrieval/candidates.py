"""The one candidates path: the items a feed shows, for one profile vector or many.

Without item popularity: the k nearest items to each vector. With it: the ``pool`` nearest,
most popular first (cosine alone predicted held-out clicks worse than global popularity in
bench/retrieval_bench.py; the blend predicted them better).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy.typing as npt

from recgen.retrieval.index import VectorIndex, normalize

__all__ = ["DEFAULT_POOL", "Retriever", "rerank_by_popularity"]
DEFAULT_POOL = 200


def rerank_by_popularity(product_ids: Sequence[int], popularity: Mapping[int, float]
                         ) -> list[int]:
    """Most popular first; a stable sort keeps cosine order among equally popular items."""
    return sorted(product_ids, key=lambda p: -popularity.get(p, 0.0))


class Retriever:
    """Candidates from the item index, blended with item popularity when there is one."""

    def __init__(self, index: VectorIndex, *, popularity: Mapping[int, float] | None = None,
                 pool: int = DEFAULT_POOL) -> None:
        self.index = index
        # Clicks (or any engagement count) per product id.
        self.popularity = popularity
        self.pool = pool

    def candidates(self, vectors: npt.ArrayLike, k: int, *,
                   exclude: Sequence[Iterable[int]] | None = None) -> list[list[int]]:
        """Top-k product ids per row of ``vectors`` [N, D], skipping that row's ``exclude``
        (one collection of ids per row), from one index search for all N."""
        queries = normalize(vectors)
        skips = [set(e) for e in exclude] if exclude is not None else [set()] * len(queries)
        if len(skips) != len(queries):
            raise ValueError(f"{len(queries)} vectors, {len(skips)} exclusion sets")
        depth = max(k, self.pool) if self.popularity is not None else k
        _, ids = self.index.search(queries, depth + max(map(len, skips), default=0))
        found = []
        for row, skip in zip(ids, skips, strict=True):
            nearest = [int(i) for i in row if i >= 0 and int(i) not in skip][:depth]
            found.append(nearest if self.popularity is None
                         else rerank_by_popularity(nearest, self.popularity)[:k])
        return found
