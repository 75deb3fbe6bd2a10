"""The default training recipe: split, cache, classifier, cGAN, MLP baseline, evaluation, cards.

The CLI reads the catalog (it owns file/DB access) and hands the products here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from recgen.catalog.split import is_validation
from recgen.core.types import ImageRequest, Product
from recgen.models.image.baseline import LATENT, load_baseline, save_baseline, train_mlp_gan
from recgen.models.image.cards import write_cards
from recgen.models.image.classifier import ImageClassifier, train_classifier
from recgen.models.image.data import ConditionVocab, cached_photos
from recgen.models.image.evaluate import condition_scores, evaluate_image_engine
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.pipeline import INDEX, ProductImageGenerator
from recgen.models.image.train_gan import GanTrainConfig, train_gan


@dataclass
class Split:
    vocab: ConditionVocab
    train: list[Product]
    validation: list[Product]
    train_photos: torch.Tensor  # [N, 3, 64, 64] uint8
    validation_photos: torch.Tensor


def prepare_split(products: Sequence[Product], cache_dir: Path) -> Split:
    """Products with photos, split by id hash; the vocabulary is fitted on train only."""
    with_photo = [p for p in products if p.image_path is not None]
    train = [p for p in with_photo if not is_validation(p.product_id)]
    validation = [p for p in with_photo if is_validation(p.product_id)]
    vocab = ConditionVocab.fit(train)
    return Split(
        vocab, train, validation,
        cached_photos(train, cache_dir), cached_photos(validation, cache_dir),
    )


def run_gan(split: Split, out: Path, work_dir: Path, seconds: float, resume: bool) -> Path:
    art, col = split.vocab.encode(split.train)
    started = time.time()
    generator, stats = train_gan(
        split.train_photos, art, col, split.vocab,
        work_dir=work_dir / "cgan", config=GanTrainConfig(seconds=seconds), resume=resume,
    )
    generator.extra.update({"training": stats, "wall_seconds_this_run": time.time() - started})
    version = generator.save_pretrained(out)
    (work_dir / "cgan" / "done.json").write_text(json.dumps({"version": version, **stats}))
    print(f"cGAN: {stats['steps']:.0f} steps, {stats['epochs']:.1f} epochs in "
          f"{stats['train_seconds'] / 60:.1f} min -> {out} (version {version})")
    return out


def run_classifier(split: Split, out: Path, epochs: int, *, resume: bool = False) -> Path:
    """Train (or with ``resume`` continue training) the classifier saved at ``out``."""
    art, col = split.vocab.encode(split.train)
    started = time.time()
    init = ImageClassifier.from_pretrained(out) if resume else None
    previous = init.extra.get("training", {}).get("epochs", 0.0) if init is not None else 0.0
    classifier, stats = train_classifier(split.train_photos, art, col, split.vocab,
                                         epochs=epochs, init=init)
    stats["epochs"] += previous
    val_art, val_col = split.vocab.encode(split.validation)
    pred = classifier.predict(split.validation_photos)
    for name, probs, target in (("article", pred.article_probs, val_art),
                                ("colour", pred.colour_probs, val_col)):
        stats[f"validation_{name}_accuracy"] = float((probs.argmax(1) == target).float().mean())
    stats["train_seconds"] = time.time() - started
    classifier.extra.update({"training": {**stats, "runs": (
        init.extra["training"].get("runs", 1) + 1 if init is not None else 1)}})
    version = classifier.save_pretrained(out)
    print(f"classifier: article acc {stats['validation_article_accuracy']:.3f}, colour acc "
          f"{stats['validation_colour_accuracy']:.3f} on {len(split.validation)} validation photos "
          f"in {stats['train_seconds'] / 60:.1f} min -> {out} (version {version})")
    return out


def run_baseline(split: Split, work_dir: Path, seconds: float) -> Path:
    g, stats = train_mlp_gan(split.train_photos, seconds=seconds)
    out = work_dir / "mlp_baseline"
    version = save_baseline(g, out, stats)
    print(f"MLP GAN baseline: {stats['steps']:.0f} steps, {stats['epochs']:.1f} epochs in "
          f"{stats['train_seconds'] / 60:.1f} min -> {out} (version {version})")
    return out


def baseline_samples(path: Path, n: int, seed: int = 0) -> torch.Tensor:
    """n images [n, 3, 64, 64] in [-1, 1] from the saved MLP baseline."""
    g = load_baseline(path)
    with torch.inference_mode():
        z = torch.randn(n, LATENT, generator=torch.Generator().manual_seed(seed))
        images: torch.Tensor = g(z)
    return images


def trained_pipeline(generator_path: Path, classifier_path: Path) -> ProductImageGenerator:
    """The trained generator and classifier as a pipeline, with the sampling settings of the
    index at ``generator_path`` (the defaults until the truncation stage writes one)."""
    if (generator_path / INDEX).is_file():
        return ProductImageGenerator.from_pretrained(generator_path, classifier=classifier_path)
    return ProductImageGenerator(ImageGenerator.from_pretrained(generator_path),
                                 ImageClassifier.from_pretrained(classifier_path))


TRUNCATION_GRID = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def choose_truncation(split: Split, generator_path: Path, classifier_path: Path, *,
                      min_diversity_ratio: float = 0.85, sample: int = 2500,
                      seed: int = 0) -> dict[str, Any]:
    """Choose the generator's latent truncation and save it with the weights, as a pipeline
    whose ``model_index.json`` names the classifier at ``classifier_path``.

    Scored on (a seeded sample of) the *training* products so that the validation split stays
    unseen by every choice: among the grid values whose within-condition diversity is at least
    ``min_diversity_ratio`` x the real photos', the one whose images the classifier recognises
    most often. The floor keeps a margin above the 0.8x diversity target.
    """
    pipe = trained_pipeline(generator_path, classifier_path)
    rng = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(split.train), generator=rng)[:sample].tolist()
    products = [split.train[i] for i in rows]
    article, colour = pipe.generator.conditions(products)
    photos = pipe.classifier.predict(split.train_photos[rows])
    real = condition_scores(article, colour, photos.features, photos.article_probs)
    table = []
    for psi in TRUNCATION_GRID:
        pipe.generator.truncation = psi
        cands = pipe.sample([ImageRequest(p, seed=seed + p.product_id) for p in products])
        scores = condition_scores(article, colour, cands.features, cands.article_probs)
        table.append({"truncation": psi,
                      "cond_accuracy_vs_real": scores["cond_accuracy"] / real["cond_accuracy"],
                      "diversity_vs_real": scores["diversity"] / real["diversity"]})
    allowed = [row for row in table if row["diversity_vs_real"] >= min_diversity_ratio]
    best = max(allowed or table[:1], key=lambda row: row["cond_accuracy_vs_real"])
    pipe.generator.truncation = best["truncation"]
    pipe.generator.extra["truncation_choice"] = {
        "products": len(products), "split": "train", "min_diversity_ratio": min_diversity_ratio,
        "chosen": best["truncation"], "grid": table}
    version = pipe.save_pretrained(generator_path,
                                   classifier_dir=os.path.relpath(classifier_path, generator_path))
    print(f"truncation {best['truncation']}: cond_accuracy {best['cond_accuracy_vs_real']:.3f}x, "
          f"diversity {best['diversity_vs_real']:.3f}x real on {len(products)} training products "
          f"-> {generator_path} (pipeline version {version})")
    return pipe.generator.extra["truncation_choice"]  # type: ignore[no-any-return]


def run_eval(split: Split, generator_path: Path, classifier_path: Path, work_dir: Path) -> dict[
        str, Any]:
    """Validation metrics (incl. the MLP baseline's FID when trained); stored in both cards."""
    pipe = trained_pipeline(generator_path, classifier_path)
    baseline = work_dir / "mlp_baseline"
    base = baseline_samples(baseline, len(split.validation)) if baseline.is_dir() else None
    metrics = evaluate_image_engine(pipe, split.validation, split.validation_photos,
                                    baseline_images=base)
    metrics["generator_version"] = pipe.generator.version
    metrics["classifier_version"] = pipe.classifier.version
    (work_dir / "validation_metrics.json").write_text(json.dumps(metrics, indent=2))
    write_cards(generator_path, classifier_path, metrics, work_dir)
    return metrics
