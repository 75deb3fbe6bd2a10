"""Tiny random image models (seconds on a CPU) shared by the image engine's unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from recgen.core.types import Product
from recgen.models.image.classifier import ClassifierConfig, ClassifierNet, ImageClassifier
from recgen.models.image.data import ConditionVocab
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.networks import Generator, GeneratorConfig
from recgen.models.image.pipeline import ProductImageGenerator

ARTICLES = ("Shirts", "Tshirts", "Watches", "sub:Bags", "Other")
COLOURS = ("Black", "Blue", "White")


@pytest.fixture
def vocab() -> ConditionVocab:
    return ConditionVocab(ARTICLES, COLOURS, ("Bags",))


@pytest.fixture
def tiny_generator(vocab: ConditionVocab) -> ImageGenerator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(len(ARTICLES), len(COLOURS), z_dim=8, article_dim=4, colour_dim=4,
                          channels=(16, 8, 8, 4))
    net = Generator(cfg)
    # Distinct templates per article so conditioning is visible even at random init.
    net.templates.copy_(torch.randn_like(net.templates))
    return ImageGenerator(net, vocab)


@pytest.fixture
def tiny_classifier(vocab: ConditionVocab) -> ImageClassifier:
    torch.manual_seed(1)
    net = ClassifierNet(ClassifierConfig(len(ARTICLES), len(COLOURS), channels=(4, 8, 8)))
    return ImageClassifier(net, vocab)


@pytest.fixture
def pipe(tiny_generator: ImageGenerator, tiny_classifier: ImageClassifier) -> ProductImageGenerator:
    return ProductImageGenerator(tiny_generator, tiny_classifier, n_candidates=4)


@pytest.fixture
def product() -> Callable[..., Product]:
    """Factory: product(id, article="Shirts", colour="Blue", sub="Topwear")."""
    return make_product


def make_product(product_id: int, article: str = "Shirts", colour: str = "Blue",
                 sub: str = "Topwear") -> Product:
    return Product(product_id=product_id, gender="Men", master_category="Apparel",
                   sub_category=sub, article_type=article, base_colour=colour,
                   colour_group=colour, season="Summer", usage="Casual",
                   title=f"{colour} {article}")
