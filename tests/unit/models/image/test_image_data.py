from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from recgen.core.types import Product
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.data import OTHER, ConditionVocab, cached_photos, to_uint8, to_unit_range


def test_rare_types_fall_back_to_sub_category_then_other(product: Callable[..., Product]) -> None:
    products = ([product(i, "Shirts") for i in range(5)]
                + [product(10 + i, "Clutches", sub="Bags") for i in range(3)]
                + [product(20 + i, "Laptop Bag", sub="Bags") for i in range(3)]
                + [product(30, "Ties", sub="Ties")])
    vocab = ConditionVocab.fit(products, min_count=5)
    assert vocab.article_classes == ("Shirts", "sub:Bags", OTHER)
    assert vocab.article_label(product(99, "Duffel Bag", sub="Bags")) == "sub:Bags"
    assert vocab.article_label(product(98, "Ties", sub="Ties")) == OTHER
    assert ConditionVocab.from_json(vocab.to_json()) == vocab


def test_unit_range_round_trip() -> None:
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_unit_range(x)), x)


def test_photo_cache_and_embedding(tmp_path: Path, product: Callable[..., Product],
                                   tiny_classifier: ImageClassifier) -> None:
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(np.full((224, 224, 3), 40 * i, dtype=np.uint8)).save(path)
        paths.append(str(path))
    products = [Product(**{**_fields(product(i)), "image_path": p}) for i, p in enumerate(paths)]
    photos = cached_photos(products, tmp_path / "cache")
    assert photos.shape == (3, 3, 64, 64) and photos.dtype == torch.uint8
    assert len(list((tmp_path / "cache").iterdir())) == 1
    assert torch.equal(cached_photos(products, tmp_path / "cache"), photos)
    vectors = tiny_classifier.embed_photos(paths)
    assert vectors.shape == (3, tiny_classifier.feature_dim) and vectors.dtype == np.float32


def _fields(p: Product) -> dict[str, object]:
    return {name: getattr(p, name) for name in Product.__slots__}
