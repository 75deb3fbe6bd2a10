from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image

from recgen.core.config import WEIGHTS_DIR
from recgen.core.errors import ModelLoadError
from recgen.core.types import ImageRequest, Product
from recgen.models.image.classifier import ClassifierConfig, ClassifierNet, ImageClassifier
from recgen.models.image.data import ConditionVocab
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.pipeline import ProductImageGenerator, SamplingConfig

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


def test_sampling_settings_are_part_of_the_version(
    tiny_generator: ImageGenerator, tiny_classifier: ImageClassifier, product: Make
) -> None:
    pipes = [ProductImageGenerator(tiny_generator, tiny_classifier, n_candidates=4),
             ProductImageGenerator(tiny_generator, tiny_classifier, n_candidates=5),
             ProductImageGenerator(tiny_generator, tiny_classifier, n_candidates=4,
                                   min_article_prob=0.3)]
    request = [ImageRequest(product(1), seed=1, taste_vector=(1.0,) * 8)]
    served = [pipe.generate(request)[0].model_version for pipe in pipes]
    # Other settings serve other images: they must never share cache keys.
    assert len(set(served)) == 3
    assert served == [pipe.version for pipe in pipes]
    assert ProductImageGenerator(tiny_generator, tiny_classifier, n_candidates=4).version == (
        served[0])


def test_pipeline_round_trips_settings_and_version(
    tiny_generator: ImageGenerator, tiny_classifier: ImageClassifier, product: Make,
    tmp_path: Path,
) -> None:
    pipe = ProductImageGenerator(tiny_generator, tiny_classifier, n_candidates=3,
                                 min_article_prob=0.25)
    version = pipe.save_pretrained(tmp_path / "pipe")
    loaded = ProductImageGenerator.from_pretrained(tmp_path / "pipe")
    assert loaded.version == version == pipe.version
    assert loaded.sampling == SamplingConfig(n_candidates=3, min_article_prob=0.25)
    [served] = loaded.generate([ImageRequest(product(1), seed=2, taste_vector=(1.0,) * 8)])
    assert served.model_version == version and served.extra["candidates"] == 3.0


def test_classifier_by_path_and_its_settings_override(
    tiny_generator: ImageGenerator, tiny_classifier: ImageClassifier, vocab: ConditionVocab,
    tmp_path: Path,
) -> None:
    pipe = ProductImageGenerator(tiny_generator, tiny_classifier)
    version = pipe.save_pretrained(tmp_path / "image", classifier_dir="../gate")
    assert ImageClassifier.from_pretrained(tmp_path / "gate").version == pipe.classifier.version
    torch.manual_seed(2)
    ImageClassifier(ClassifierNet(ClassifierConfig(len(vocab.article_classes),
                                                   len(vocab.colour_classes), channels=(4, 8, 8))),
                    vocab).save_pretrained(tmp_path / "other")
    other = ProductImageGenerator.from_pretrained(tmp_path / "image", classifier=tmp_path / "other")
    assert other.classifier.version != pipe.classifier.version
    assert other.version != version  # another gate serves other images


def test_broken_index_is_refused_naming_the_file(
    pipe: ProductImageGenerator, tmp_path: Path
) -> None:
    with pytest.raises(ModelLoadError, match=r"model_index\.json"):
        ProductImageGenerator.from_pretrained(tmp_path / "nothing")
    pipe.save_pretrained(tmp_path / "pipe")
    index = tmp_path / "pipe" / "model_index.json"
    index.write_text(index.read_text().replace('"n_candidates": 4', '"n_candidates": 0'))
    with pytest.raises(ModelLoadError, match="n_candidates"):
        ProductImageGenerator.from_pretrained(tmp_path / "pipe")


def test_shipped_weights_load_as_one_pipeline() -> None:
    pipe = ProductImageGenerator.from_pretrained(WEIGHTS_DIR / "image")
    assert pipe.generator.version == ImageGenerator.from_pretrained(WEIGHTS_DIR / "image").version
    assert pipe.classifier.version == ImageClassifier.from_pretrained(
        WEIGHTS_DIR / "image_classifier").version
    assert pipe.sampling == SamplingConfig(n_candidates=8, min_article_prob=0.0)
