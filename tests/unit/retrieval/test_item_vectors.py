"""Item vectors from the catalog: a photo missing on disk costs that product its image vector,
not the rebuild."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recgen.core.types import Product
from recgen.retrieval.item_vectors import compute_item_vectors


class CountingEncoder:
    version = "counting"
    dimension = 4

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.ones((len(texts), self.dimension), dtype=np.float32)


def test_a_missing_photo_is_skipped(tmp_path: Path, products: list[Product]) -> None:
    present = tmp_path / "1.jpg"
    present.write_bytes(b"a photo")
    catalog = [
        dataclasses.replace(products[0], image_path=str(present)),
        dataclasses.replace(products[1], image_path=str(tmp_path / "gone.jpg")),
        dataclasses.replace(products[2], image_path=None),
    ]
    embedded: list[list[str]] = []

    def embed(paths: list[str]) -> npt.NDArray[np.float32]:
        embedded.append(paths)
        return np.ones((len(paths), 3), dtype=np.float32)

    vectors = compute_item_vectors(catalog, CountingEncoder(), image_embedder=embed,
                                   image_version="v")
    assert embedded == [[str(present)]]
    assert vectors.image_ids is not None and vectors.image_ids.tolist() == [catalog[0].product_id]
    assert len(vectors.product_ids) == 3
