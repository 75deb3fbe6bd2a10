"""Tiny random models saved as real artefacts with the model packages' own classes, for
integration tests that need a worker to load *some* real model quickly (no training)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from recgen.core.types import Product
from recgen.models.image.classifier import ClassifierConfig, ClassifierNet, ImageClassifier
from recgen.models.image.data import ConditionVocab
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.networks import Generator, GeneratorConfig
from recgen.models.image.pipeline import ProductImageGenerator


def save_tiny_image_models(products: Sequence[Product], directory: Path) -> tuple[Path, Path]:
    """(pipeline path, classifier path) of random 64x64 models over these products' colours:
    the pipeline directory holds the generator and names the classifier beside it, as shipped.

    One article class ("Other") only: a random classifier then always agrees with the target
    article, so the gate passes and the test sees PNGs (gate failures are unit-tested).
    """
    fitted = ConditionVocab.fit(products, min_count=len(products) + 1)
    vocab = ConditionVocab((fitted.article_classes[-1],), fitted.colour_classes, ())
    torch.manual_seed(0)
    net = Generator(
        GeneratorConfig(
            len(vocab.article_classes),
            len(vocab.colour_classes),
            z_dim=8,
            article_dim=4,
            colour_dim=4,
            channels=(16, 8, 8, 4),
        )
    )
    with torch.no_grad():
        net.templates.copy_(torch.randn_like(net.templates))
    torch.manual_seed(1)
    classifier = ClassifierNet(
        ClassifierConfig(len(vocab.article_classes), len(vocab.colour_classes), channels=(4, 8, 8))
    )
    pipeline = ProductImageGenerator(
        ImageGenerator(net, vocab, name="tiny-cgan"), ImageClassifier(classifier, vocab)
    )
    pipeline.save_pretrained(directory / "image", classifier_dir="../image_classifier")
    return directory / "image", directory / "image_classifier"
