"""Evaluation of the image engine on any catalog with photos (all in the classifier's space).

- fid: Frechet distance between classifier features of generated images for the conditions of
  half A of the products and the real photos of half B; real_fid: the same between real A and
  real B (halves are stratified by condition, so both distances compare the same conditions
  with the same sample sizes; real_fid is the floor).
- cond_accuracy / real_cond_accuracy: the classifier names the conditioned article class.
- diversity / real_diversity: mean pairwise feature distance within a condition (article,
  colour), over conditions with >= 2 products, one generated image per product (own seed).
- history_similarity: simulated users whose history is a coherent set of real photos (an
  anchor and its nearest neighbours); taste = mean history features; for a random product,
  the personalized image vs the unpersonalized one (same seed, same condition): uplift =
  1 - mean distance(personalized, taste) / mean distance(unpersonalized, taste).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import linalg

from recgen.core.types import ImageRequest, Product
from recgen.models.image.data import to_uint8
from recgen.models.image.pipeline import ProductImageGenerator


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between Gaussians fitted to feature sets a [N, D] and b [M, D]."""
    x, y = a.double().numpy(), b.double().numpy()
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = linalg.sqrtm(cov_x @ cov_y, disp=False)
    covmean = np.real(covmean)
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x + cov_y - 2.0 * covmean))


def stratified_halves(products: Sequence[Product], pipe: ProductImageGenerator) -> tuple[
        list[int], list[int]]:
    """Indices of halves A and B: alternate along the products sorted by condition, so each
    (article, colour) condition is split evenly and the halves differ in size by at most 1."""
    art, col = pipe.generator.conditions(list(products))
    order = sorted(range(len(products)),
                   key=lambda i: (int(art[i]), int(col[i]), products[i].product_id))
    return order[0::2], order[1::2]


def mean_within_condition_distance(feats: torch.Tensor, keys: Sequence[tuple[int, int]]) -> float:
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    means = [float(torch.pdist(feats[idx]).mean()) for idx in groups.values() if len(idx) >= 2]
    return float(np.mean(means)) if means else float("nan")


def condition_scores(article: torch.Tensor, colour: torch.Tensor, features: torch.Tensor,
                     article_probs: torch.Tensor) -> dict[str, float]:
    """cond_accuracy and diversity of one image per product (generated or real), given the
    products' encoded conditions."""
    keys = list(zip(article.tolist(), colour.tolist(), strict=True))
    return {"cond_accuracy": float((article_probs.argmax(1) == article).float().mean()),
            "diversity": mean_within_condition_distance(features, keys)}


def personalization_uplift(pipe: ProductImageGenerator, products: Sequence[Product],
                           real_feats: torch.Tensor, *, n_users: int, history: int,
                           seed: int) -> dict[str, float]:
    rng = torch.Generator().manual_seed(seed)
    anchors = torch.randint(0, len(products), (n_users,), generator=rng)
    targets = torch.randint(0, len(products), (n_users,), generator=rng)
    # History = the anchor photo and its nearest neighbours: a user with a coherent taste.
    nearest = torch.cdist(real_feats[anchors], real_feats).topk(history, largest=False).indices
    tastes = real_feats[nearest].mean(1)  # [U, D]
    requests = [
        ImageRequest(products[int(t)], seed=seed + u, taste_vector=tuple(tastes[u].tolist()))
        for u, t in enumerate(targets)
    ]
    chosen = pipe.generate(requests)
    d_pers = np.array([g.extra["taste_distance"] for g in chosen])
    d_unpers = np.array([g.extra["taste_distance_unpersonalized"] for g in chosen])
    return {
        "history_distance_personalized": float(d_pers.mean()),
        "history_distance_unpersonalized": float(d_unpers.mean()),
        "history_similarity_uplift": float(1.0 - d_pers.mean() / d_unpers.mean()),
        "personalized_gate_pass_rate": float(np.mean([g.gate.passed for g in chosen])),
        "users": float(n_users),
    }


def evaluate_image_engine(
    pipe: ProductImageGenerator,
    products: Sequence[Product],
    photos: torch.Tensor,
    *,
    baseline_images: torch.Tensor | None = None,
    n_users: int = 200,
    history: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """products with photos [N, 3, 64, 64] uint8 -> metrics dict (JSON-able)."""
    art, col = pipe.generator.conditions(list(products))
    real = pipe.classifier.predict(photos)
    cands = pipe.sample([ImageRequest(p, seed=seed + p.product_id) for p in products])
    keys = list(zip(art.tolist(), col.tolist(), strict=True))
    half_a, half_b = stratified_halves(products, pipe)
    result: dict[str, Any] = {
        "fid": frechet_distance(cands.features[half_a], real.features[half_b]),
        "real_fid": frechet_distance(real.features[half_a], real.features[half_b]),
        "real_colour_accuracy": float((real.colour_probs.argmax(1) == col).float().mean()),
    }
    result.update(condition_scores(art, col, cands.features, cands.article_probs))
    result.update({f"real_{k}": v for k, v in condition_scores(
        art, col, real.features, real.article_probs).items()})
    gen_colour = pipe.classifier.predict(cands.images).colour_probs.argmax(1)
    result["colour_accuracy"] = float((gen_colour == col).float().mean())
    if baseline_images is not None:
        base = pipe.classifier.features(to_uint8(baseline_images[: len(half_a)]))
        result["fid_mlp_baseline"] = frechet_distance(base, real.features[half_b])
        result["fid_ratio_vs_mlp_baseline"] = result["fid"] / result["fid_mlp_baseline"]
    uplift = personalization_uplift(pipe, products, real.features, n_users=n_users,
                                    history=history, seed=seed)
    result["history_similarity"] = uplift
    result["counts"] = {
        "products": len(products), "fid_half_a": len(half_a), "fid_half_b": len(half_b),
        "diversity_conditions": sum(1 for k in set(keys) if keys.count(k) >= 2),
        "users": n_users,
    }
    result["ratios"] = {
        "cond_accuracy_vs_real": result["cond_accuracy"] / max(result["real_cond_accuracy"], 1e-9),
        "diversity_vs_real": result["diversity"] / max(result["real_diversity"], 1e-9),
    }
    return result
