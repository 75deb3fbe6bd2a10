from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recgen.core.errors import IndexLoadError
from recgen.retrieval.index import VectorIndex, normalize


def clustered(n: int, dim: int = 16, centres: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, dim))
    return (means[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, dim))).astype(
        np.float32)


def test_exact_matches_brute_force_and_maps_ids() -> None:
    vectors = clustered(300)
    ids = np.arange(300, dtype=np.int64) * 7 + 100_000  # SQL keys, not row numbers
    index = VectorIndex.build(ids, vectors, model_version="v")
    assert index.kind == "exact"
    queries = clustered(5, seed=1)
    _, found = index.search(queries, 10)
    brute = np.argsort(-(normalize(queries) @ normalize(vectors).T), axis=1)[:, :10]
    assert np.array_equal(found, ids[brute])


def test_ivf_agrees_with_exact_when_probing_all_lists() -> None:
    vectors = clustered(2000)
    ids = np.arange(2000, dtype=np.int64) + 5
    exact = VectorIndex.build(ids, vectors, model_version="v")
    ivf = VectorIndex.build(ids, vectors, model_version="v", exact_threshold=100, nlist=16)
    assert ivf.kind == "ivf"
    ivf.nprobe = ivf.nlist
    queries = clustered(20, seed=2)
    assert np.array_equal(exact.search(queries, 10)[1], ivf.search(queries, 10)[1])


@pytest.mark.parametrize("threshold", [10_000, 100])
def test_upsert_and_remove(threshold: int) -> None:
    vectors = clustered(500)
    ids = np.arange(500, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, model_version="v", exact_threshold=threshold,
                              nlist=8, nprobe=8)
    assert index.remove([3, 4, 99_999]) == 2
    assert index.count == 498
    assert 3 not in index.search(vectors[3], 5)[1][0]
    index.upsert([7], vectors[[42]])  # id 7 now holds item 42's vector
    assert index.count == 498
    top = index.search(vectors[42], 2)[1][0]
    assert set(top) == {7, 42}
    np.testing.assert_allclose(index.reconstruct(7), normalize(vectors[42])[0], atol=1e-6)


def test_persistence_round_trip(tmp_path: Path) -> None:
    vectors = clustered(800)
    index = VectorIndex.build(np.arange(800), vectors, model_version="m1", exact_threshold=100,
                              nlist=8, nprobe=3)
    manifest = index.save(tmp_path, "items")
    assert (manifest.dimension, manifest.count, manifest.kind) == (16, 800, "ivf")
    loaded = VectorIndex.load(tmp_path, "items", expected_dimension=16,
                              expected_model_version="m1")
    assert loaded.nprobe == 3
    assert np.array_equal(index.search(vectors[:5], 10)[1], loaded.search(vectors[:5], 10)[1])


def test_corrupt_or_mismatched_file_fails_loudly(tmp_path: Path) -> None:
    VectorIndex.build(np.arange(50), clustered(50), model_version="m1").save(tmp_path, "users")
    with pytest.raises(IndexLoadError, match="model version"):
        VectorIndex.load(tmp_path, "users", expected_model_version="m2")
    with pytest.raises(IndexLoadError, match="dimension"):
        VectorIndex.load(tmp_path, "users", expected_dimension=32)
    path = tmp_path / "users.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match="checksum"):
        VectorIndex.load(tmp_path, "users")
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="manifest"):
        VectorIndex.load(tmp_path, "users")


def test_rejects_wrong_dimension_and_duplicate_ids() -> None:
    index = VectorIndex.build(np.arange(10), clustered(10), model_version="v")
    with pytest.raises(ValueError, match="dimension"):
        index.upsert([1], np.zeros((1, 8), np.float32))
    with pytest.raises(ValueError, match="duplicate"):
        index.upsert([1, 1], clustered(2))
