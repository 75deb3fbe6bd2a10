"""The one candidates path: nearest items, the popularity blend, exclusions, many at once."""

from __future__ import annotations

import numpy as np

from recgen.retrieval.candidates import Retriever, rerank_by_popularity
from recgen.retrieval.index import VectorIndex


def _index() -> tuple[VectorIndex, np.ndarray]:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    return VectorIndex.build(np.arange(100, 150), vectors, model_version="t"), vectors


def test_many_rows_from_one_search_equal_each_rows_own() -> None:
    index, vectors = _index()
    popularity = {100 + i: float(i % 7) for i in range(50)}
    for retriever in (Retriever(index), Retriever(index, popularity=popularity, pool=12)):
        queries = vectors[:4] + 0.1
        exclude = [{101, 102}, set(), {100 + i for i in range(10)}, {149}]
        together = retriever.candidates(queries, 5, exclude=exclude)
        alone = [retriever.candidates(q, 5, exclude=[e])[0]
                 for q, e in zip(queries, exclude, strict=True)]
        assert together == alone
        assert all(len(row) == 5 and not set(row) & e
                   for row, e in zip(together, exclude, strict=True))


def test_blend_takes_the_most_popular_of_the_pool() -> None:
    index, vectors = _index()
    nearest = Retriever(index).candidates(vectors[0], 12)[0]
    popularity = {nearest[11]: 3.0, nearest[7]: 2.0}
    blended = Retriever(index, popularity=popularity, pool=12).candidates(vectors[0], 4)[0]
    assert blended == [nearest[11], nearest[7], nearest[0], nearest[1]]
    assert blended == rerank_by_popularity(nearest, popularity)[:4]
