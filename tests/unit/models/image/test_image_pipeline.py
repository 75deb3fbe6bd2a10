from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import torch
from PIL import Image

from recgen.core.types import ImageRequest, Product
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.pipeline import ProductImageGenerator

Make = Callable[..., Product]


def _force_class(classifier: ImageClassifier, index: int) -> None:
    """Make the classifier's article head always answer ``index``."""
    with torch.no_grad():
        classifier.network.article_head.weight.zero_()
        classifier.network.article_head.bias.fill_(-10.0)
        classifier.network.article_head.bias[index] = 10.0


def test_png_bytes_and_metadata(
    pipe: ProductImageGenerator, product: Make
) -> None:
    [out] = pipe.generate([ImageRequest(product(1), seed=7)])
    img = Image.open(io.BytesIO(out.png))
    assert img.format == "PNG" and img.size == (64, 64) and img.mode == "RGB"
    assert out.seed == 7 and out.model_name == pipe.generator.name
    assert out.predicted_article_type in pipe.classifier.vocab.article_classes


def test_seed_reproducible_regardless_of_batch(
    pipe: ProductImageGenerator, product: Make
) -> None:
    target = ImageRequest(product(1, "Watches"), seed=42)
    others = [ImageRequest(product(i, "Shirts", "Black"), seed=i) for i in range(2, 6)]
    alone = pipe.generate([target])[0].png
    batched = pipe.generate([*others[:2], target, *others[2:]])[2].png
    assert alone == batched
    assert pipe.generate([ImageRequest(product(1, "Watches"), seed=43)])[0].png != alone


def test_gate_fails_when_the_classifier_sees_another_article(
    pipe: ProductImageGenerator, product: Make
) -> None:
    _force_class(pipe.classifier, pipe.classifier.vocab.article_classes.index("Watches"))
    shirt, watch = pipe.generate([ImageRequest(product(1, "Shirts"), seed=1),
                                  ImageRequest(product(2, "Watches"), seed=1)])
    assert not shirt.gate.passed and "Watches" in shirt.gate.reasons[0]
    assert watch.gate.passed and watch.gate.reasons == ()


def test_rare_article_is_gated_against_its_sub_category(
    pipe: ProductImageGenerator, product: Make
) -> None:
    _force_class(pipe.classifier, pipe.classifier.vocab.article_classes.index("sub:Bags"))
    [clutch] = pipe.generate([ImageRequest(product(1, "Clutches", sub="Bags"), seed=3)])
    assert clutch.gate.passed


def test_taste_vector_picks_the_nearest_candidate(
    pipe: ProductImageGenerator, product: Make
) -> None:
    shirt = product(1)
    cands = pipe.sample([ImageRequest(shirt, seed=5, taste_vector=(0.0,) * 8)])
    taste = cands.features[3] + 0.01  # right next to candidate 3
    _force_class(pipe.classifier, pipe.classifier.vocab.article_classes.index("Shirts"))
    [out] = pipe.generate([ImageRequest(shirt, seed=5, taste_vector=tuple(taste.tolist()))])
    assert out.extra["taste_distance"] < out.extra["taste_distance_unpersonalized"]
    assert out.extra["candidates"] == 4.0


def test_taste_vector_of_wrong_size_is_rejected(
    pipe: ProductImageGenerator, product: Make
) -> None:
    with pytest.raises(ValueError, match="dims"):
        pipe.generate([ImageRequest(product(1), seed=1, taste_vector=(1.0, 2.0))])
