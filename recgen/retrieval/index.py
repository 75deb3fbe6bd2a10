"""FAISS indexes keyed by SQL primary keys, with a manifest and checksummed persistence.

Vectors are L2-normalised and compared by inner product (cosine). Up to ``exact_threshold``
vectors the index is exact (an ``IndexIVFFlat`` with a single list, scanned in full); above it
an ``IndexIVFFlat`` with ~4*sqrt(N) lists probed ``nprobe`` at a time. Both keep SQL ids with
a hashtable direct map, so ``remove_ids`` and re-adding are O(1), which HNSW cannot do.
The manifest records dimension, count, kind, model version and the file's sha256; a file
that disagrees with its manifest raises IndexLoadError so the caller rebuilds from SQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from recgen.core.errors import IndexLoadError

FloatMatrix = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
IndexKind = Literal["exact", "ivf"]

logger = logging.getLogger(__name__)
MANIFEST_VERSION = 1
DEFAULT_EXACT_THRESHOLD = 50_000
# faiss k-means needs ~39 points per centroid to avoid a warning; more only slows training.
_TRAIN_POINTS_PER_LIST = 40


def normalize(vectors: npt.ArrayLike) -> FloatMatrix:
    """Row-wise L2 normalisation to float32 C order; zero rows stay zero."""
    matrix = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


def gpu_available() -> bool:
    """True when this faiss build has GPU support and a CUDA device is visible."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    kind: IndexKind
    dimension: int
    count: int
    model_version: str
    sha256: str
    nlist: int = 0
    nprobe: int = 0
    manifest_version: int = MANIFEST_VERSION


class VectorIndex:
    """A cosine-similarity index whose ids are SQL primary keys (int64)."""

    def __init__(
        self,
        index: Any,
        *,
        dimension: int,
        kind: IndexKind,
        model_version: str,
        nprobe: int = 0,
    ) -> None:
        self._index = index
        self.dimension = dimension
        self.kind: IndexKind = kind
        self.model_version = model_version
        self._gpu_index: Any = None
        if kind == "ivf":
            self.nprobe = nprobe
        self._use_gpu = kind == "exact" and gpu_available()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        ids: npt.ArrayLike,
        vectors: npt.ArrayLike,
        *,
        model_version: str,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        nlist: int | None = None,
        nprobe: int = 8,
        seed: int = 0,
    ) -> VectorIndex:
        """Exact index for small corpora, IVF above ``exact_threshold`` vectors."""
        matrix = normalize(vectors)
        id_array = _as_ids(ids, len(matrix))
        dimension = matrix.shape[1]
        index: Any
        if len(matrix) <= exact_threshold:
            # One inverted list, always scanned in full, is exact search; unlike IndexIDMap2
            # over IndexFlat (whose remove_ids compacts the whole array, O(N*D), ~7 ms p99 at
            # 20k x 384) it removes an id in O(1), which keeps per-event upserts cheap.
            index = _ivf(dimension, 1)
            index.quantizer.add(np.zeros((1, dimension), dtype=np.float32))
            index.is_trained = True
            result = cls(index, dimension=dimension, kind="exact", model_version=model_version)
        else:
            lists = nlist or max(1, int(4 * math.sqrt(len(matrix))))
            index = _ivf(dimension, lists)
            index.cp.seed = seed
            rng = np.random.default_rng(seed)
            sample = rng.choice(
                len(matrix), size=min(len(matrix), lists * _TRAIN_POINTS_PER_LIST), replace=False
            )
            index.train(matrix[np.sort(sample)])
            result = cls(
                index, dimension=dimension, kind="ivf", model_version=model_version, nprobe=nprobe
            )
        result.upsert(id_array, matrix)
        return result

    # ---- properties ---------------------------------------------------------------------
    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe) if self.kind == "ivf" else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind != "ivf":
            raise ValueError("nprobe applies to IVF indexes only")
        self._index.nprobe = max(1, int(value))

    @property
    def nlist(self) -> int:
        return int(self._index.nlist) if self.kind == "ivf" else 0

    # ---- incremental updates --------------------------------------------------------------
    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove ids (unknown ids are ignored); returns how many vectors were removed."""
        id_array = np.ascontiguousarray(np.atleast_1d(np.asarray(ids, dtype=np.int64)))
        if id_array.size == 0:
            return 0
        self._gpu_index = None
        return int(self._index.remove_ids(id_array))

    def upsert(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add vectors, replacing any already stored under the same ids."""
        matrix = normalize(vectors)
        id_array = _as_ids(ids, len(matrix))
        if matrix.shape[1] != self.dimension:
            raise ValueError(f"expected dimension {self.dimension}, got {matrix.shape[1]}")
        if len(np.unique(id_array)) != len(id_array):
            raise ValueError("duplicate ids in one upsert")
        self.remove(id_array)
        self._index.add_with_ids(matrix, id_array)

    # ---- search ---------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, k: int) -> tuple[FloatMatrix, IdArray]:
        """Top-k (scores, ids) per query; missing neighbours have id -1 and score -inf."""
        matrix = normalize(queries)
        if matrix.shape[1] != self.dimension:
            raise ValueError(f"expected dimension {self.dimension}, got {matrix.shape[1]}")
        scores, ids = self._searcher().search(matrix, k)
        return scores, ids

    def reconstruct(self, item_id: int) -> FloatMatrix:
        """The stored (normalised) vector of one id."""
        return np.asarray(self._index.reconstruct(int(item_id)), dtype=np.float32)

    def _searcher(self) -> Any:
        # Exact search is the case that gains from a GPU; the copy is dropped on any update.
        if not self._use_gpu:
            return self._index
        if self._gpu_index is None:
            try:
                resources = faiss.StandardGpuResources()
                self._gpu_index = faiss.index_cpu_to_gpu(resources, 0, self._index)
            except RuntimeError as exc:  # an index type this faiss GPU build cannot hold
                logger.warning("faiss GPU unavailable for this index, searching on CPU: %s", exc)
                self._use_gpu = False
                return self._index
        return self._gpu_index

    # ---- persistence ----------------------------------------------------------------------
    def save(self, directory: Path, name: str) -> Manifest:
        """Write NAME.faiss then NAME.json atomically (temp file + rename)."""
        directory.mkdir(parents=True, exist_ok=True)
        index_path, manifest_path = _paths(directory, name)
        tmp_index = index_path.with_suffix(".faiss.tmp")
        faiss.write_index(self._index, str(tmp_index))
        manifest = Manifest(
            name=name,
            kind=self.kind,
            dimension=self.dimension,
            count=self.count,
            model_version=self.model_version,
            sha256=_sha256(tmp_index),
            nlist=self.nlist,
            nprobe=self.nprobe,
        )
        os.replace(tmp_index, index_path)
        tmp_manifest = manifest_path.with_suffix(".json.tmp")
        tmp_manifest.write_text(json.dumps(asdict(manifest), indent=2))
        os.replace(tmp_manifest, manifest_path)
        return manifest

    @classmethod
    def load(
        cls,
        directory: Path,
        name: str,
        *,
        expected_dimension: int | None = None,
        expected_model_version: str | None = None,
    ) -> VectorIndex:
        """Load and verify an index; raise IndexLoadError if anything disagrees."""
        index_path, manifest_path = _paths(directory, name)
        manifest = read_manifest(directory, name)
        if not index_path.is_file():
            raise IndexLoadError(f"index file missing: {index_path}")
        if _sha256(index_path) != manifest.sha256:
            raise IndexLoadError(f"checksum mismatch for {index_path} (corrupt or replaced)")
        if expected_dimension is not None and manifest.dimension != expected_dimension:
            raise IndexLoadError(
                f"{index_path}: dimension {manifest.dimension}, expected {expected_dimension}"
            )
        if expected_model_version is not None and manifest.model_version != expected_model_version:
            raise IndexLoadError(
                f"{index_path}: model version {manifest.model_version!r}, "
                f"expected {expected_model_version!r}"
            )
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise IndexLoadError(f"cannot read {index_path}: {exc}") from exc
        if index.d != manifest.dimension or index.ntotal != manifest.count:
            raise IndexLoadError(f"{index_path} does not match its manifest {manifest_path}")
        return cls(
            index,
            dimension=manifest.dimension,
            kind=manifest.kind,
            model_version=manifest.model_version,
            nprobe=manifest.nprobe,
        )


def _ivf(dimension: int, lists: int) -> Any:
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists,
                               faiss.METRIC_INNER_PRODUCT)
    # A hashtable id map makes remove_ids/reconstruct O(1) instead of a scan of every list.
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    return index


def read_manifest(directory: Path, name: str) -> Manifest:
    _, manifest_path = _paths(directory, name)
    try:
        raw = json.loads(manifest_path.read_text())
        manifest = Manifest(**raw)
    except FileNotFoundError as exc:
        raise IndexLoadError(f"index manifest missing: {manifest_path}") from exc
    except (json.JSONDecodeError, TypeError) as exc:
        raise IndexLoadError(f"index manifest unreadable: {manifest_path}: {exc}") from exc
    if manifest.manifest_version != MANIFEST_VERSION or manifest.kind not in ("exact", "ivf"):
        raise IndexLoadError(f"unsupported index manifest {manifest_path}")
    return manifest


def _paths(directory: Path, name: str) -> tuple[Path, Path]:
    return directory / f"{name}.faiss", directory / f"{name}.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _as_ids(ids: npt.ArrayLike, expected: int) -> IdArray:
    id_array = np.ascontiguousarray(np.atleast_1d(np.asarray(ids, dtype=np.int64)))
    if id_array.shape != (expected,):
        raise ValueError(f"expected {expected} ids, got shape {id_array.shape}")
    return id_array
