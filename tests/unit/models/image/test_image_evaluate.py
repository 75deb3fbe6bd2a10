from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from recgen.core.types import Product
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.evaluate import evaluate_image_engine, frechet_distance
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.pipeline import ProductImageGenerator
from recgen.models.image.recipe import TRUNCATION_GRID, Split, choose_truncation

TOP_KEYS = {"fid", "real_fid", "cond_accuracy", "real_cond_accuracy", "diversity",
            "real_diversity", "history_similarity", "counts", "colour_accuracy",
            "real_colour_accuracy", "ratios", "fid_mlp_baseline", "fid_ratio_vs_mlp_baseline"}


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift() -> None:
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1.0) > 3.9  # |mean shift|^2 = 4


def test_eval_json_schema(pipe: ProductImageGenerator, product: Callable[..., Product]) -> None:
    articles = ["Shirts", "Shirts", "Watches", "Watches", "Tshirts", "Tshirts", "Shirts", "Watches"]
    products = [product(i, a, "Blue" if i % 3 else "Black") for i, a in enumerate(articles)]
    photos = torch.randint(0, 256, (len(products), 3, 64, 64), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    baseline = torch.rand(len(products), 3, 64, 64) * 2 - 1
    metrics = evaluate_image_engine(pipe, products, photos, baseline_images=baseline, n_users=6)
    assert set(metrics) >= TOP_KEYS
    json.dumps(metrics)  # must be JSON-able as written by `recgen eval image`
    for key in ("cond_accuracy", "real_cond_accuracy", "colour_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["fid"] >= 0 and metrics["real_diversity"] > 0
    assert metrics["counts"]["products"] == 8
    assert metrics["counts"]["fid_half_a"] + metrics["counts"]["fid_half_b"] == 8
    uplift = metrics["history_similarity"]
    # Best-of-N never serves a candidate farther from the taste than candidate 0 when all pass,
    # so the mean distance can only shrink; here with random nets it need not be by much.
    assert uplift["users"] == 6.0 and "history_similarity_uplift" in uplift


def test_choose_truncation_scores_training_products_and_saves_the_choice(
        tiny_generator: ImageGenerator, tiny_classifier: ImageClassifier,
        product: Callable[..., Product], tmp_path: Path) -> None:
    products = [product(i, article, colour) for i, (article, colour) in enumerate(
        [("Shirts", "Blue"), ("Watches", "Black"), ("Tshirts", "White")] * 4)]
    photos = torch.randint(0, 256, (len(products), 3, 64, 64), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    split = Split(tiny_generator.vocab, products, [], photos, photos[:0])
    tiny_generator.save_pretrained(tmp_path / "g")
    tiny_classifier.save_pretrained(tmp_path / "c")
    # A floor no grid value can reach falls back to no truncation.
    choice = choose_truncation(split, tmp_path / "g", tmp_path / "c", min_diversity_ratio=1e9)
    assert choice["chosen"] == 1.0 and len(choice["grid"]) == len(TRUNCATION_GRID)
    # Diversity shrinks with the latent scale, so the ratios must fall along the grid.
    diversity = [row["diversity_vs_real"] for row in choice["grid"]]
    assert diversity == sorted(diversity, reverse=True)
    choice = choose_truncation(split, tmp_path / "g", tmp_path / "c", min_diversity_ratio=0.0)
    allowed = max(row["cond_accuracy_vs_real"] for row in choice["grid"])
    chosen = next(r for r in choice["grid"] if r["truncation"] == choice["chosen"])
    assert chosen["cond_accuracy_vs_real"] == allowed
    saved = ImageGenerator.from_pretrained(tmp_path / "g")
    assert saved.truncation == choice["chosen"]
    assert saved.extra["truncation_choice"]["split"] == "train"
