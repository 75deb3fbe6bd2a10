"""ProductImageGenerator: batched, seeded, personalized and gated product images as PNG bytes.

Reproducibility: every request's latents come from its own ``torch.Generator(seed)``, and the
generator network has no batch-dependent layer, so an image depends only on (product
condition, seed, taste vector), not on which other requests share the batch.

Personalization is best-of-N in latent space: with a taste vector, N latents are drawn (the
first is the unpersonalized one), all N images are classified anyway for the gate, and the
passing candidate whose classifier features point closest to the taste vector (cosine) is
served. The article type and colour stay those of the product because they are the
generator's conditions.

Encoding: the served images of a batch are encoded together by :mod:`recgen.models.image.png`
at zlib level 1 (``png_level`` changes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from recgen.core.types import GateResult, GeneratedImage, ImageRequest
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.data import to_uint8
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.png import encode_png_batch

PNG_CONTENT_TYPE = "image/png"  # GeneratedImage.png is always PNG


@dataclass(frozen=True)
class Candidates:
    """All sampled candidates of one batch, flattened; owner[i] = request index of row i."""

    images: torch.Tensor  # [M, 3, 64, 64] uint8 (what would be served)
    owner: torch.Tensor  # [M] int64
    features: torch.Tensor  # [M, D]
    article_probs: torch.Tensor  # [M, A]


class ProductImageGenerator:
    def __init__(
        self,
        generator: ImageGenerator,
        classifier: ImageClassifier,
        *,
        n_candidates: int = 8,
        min_article_prob: float = 0.0,
        png_level: int = 1,
        max_batch: int = 256,
    ) -> None:
        if classifier.vocab.article_classes != generator.vocab.article_classes:
            raise ValueError("classifier and generator were trained on different article classes")
        self.generator = generator
        self.classifier = classifier
        self.n_candidates = n_candidates
        self.min_article_prob = min_article_prob
        self.png_level = png_level
        self.max_batch = max_batch

    def latents(self, request: ImageRequest) -> torch.Tensor:
        """[K, z_dim] latents of one request; row 0 is the unpersonalized sample."""
        k = self.n_candidates if request.taste_vector is not None else 1
        return self.generator.latents(k, torch.Generator().manual_seed(request.seed))

    def draw(self, requests: Sequence[ImageRequest]) -> tuple[torch.Tensor, torch.Tensor]:
        """Every candidate image of every request as it would be served (uint8 [M, 3, 64, 64],
        generated in chunks of max_batch) and owner [M], the request index of each row."""
        zs = [self.latents(r) for r in requests]
        owner = torch.cat([torch.full((z.shape[0],), i) for i, z in enumerate(zs)])
        article, colour = self.generator.conditions([r.product for r in requests])
        z_all, art_all, col_all = torch.cat(zs), article[owner], colour[owner]
        images = [
            to_uint8(self.generator.sample(z_all[s : s + self.max_batch],
                                           art_all[s : s + self.max_batch],
                                           col_all[s : s + self.max_batch]))
            for s in range(0, z_all.shape[0], self.max_batch)
        ]
        return torch.cat(images), owner

    def sample(self, requests: Sequence[ImageRequest]) -> Candidates:
        """Generate and classify every candidate of every request (in chunks of max_batch)."""
        images, owner = self.draw(requests)
        # The gate judges the quantized image, i.e. exactly what will be served.
        preds = [self.classifier.predict(images[s : s + self.max_batch])
                 for s in range(0, images.shape[0], self.max_batch)]
        return Candidates(images, owner, torch.cat([p.features for p in preds]),
                          torch.cat([p.article_probs for p in preds]))

    def generate(self, requests: Sequence[ImageRequest]) -> list[GeneratedImage]:
        if not requests:
            return []
        cands = self.sample(requests)
        article, _ = self.generator.conditions([r.product for r in requests])
        served: list[tuple[int, GateResult, str, dict[str, float]]] = []
        for i, request in enumerate(requests):
            rows = (cands.owner == i).nonzero().squeeze(1)
            target = int(article[i])
            p_target = cands.article_probs[rows, target]
            passing = (cands.article_probs[rows].argmax(1) == target) & (
                p_target >= self.min_article_prob)
            pick, extra = self._choose(request, cands.features[rows], passing)
            row = int(rows[pick])
            probs = cands.article_probs[row]
            predicted = self.classifier.vocab.article_classes[int(probs.argmax())]
            gate = (GateResult(True) if bool(passing[pick]) else GateResult(
                False, (f"classifier sees {predicted!r} (p={float(probs.max()):.2f}), not "
                        f"{self.generator.vocab.article_classes[target]!r} "
                        f"(p={float(probs[target]):.2f})",)))
            extra.update({"article_prob": float(probs[target]), "candidates": float(len(rows))})
            served.append((row, gate, predicted, extra))
        pngs = encode_png_batch(cands.images[[row for row, *_ in served]], self.png_level)
        return [
            GeneratedImage(
                png=png, gate=gate, model_name=self.generator.name,
                model_version=self.generator.version, seed=request.seed,
                predicted_article_type=predicted, extra=extra,
            )
            for request, png, (_, gate, predicted, extra) in zip(requests, pngs, served,
                                                                 strict=True)
        ]

    def _choose(self, request: ImageRequest, feats: torch.Tensor,
                passing: torch.Tensor) -> tuple[int, dict[str, float]]:
        """Index of the served candidate: closest in direction to the taste among those passing
        the gate."""
        if request.taste_vector is None:
            return 0, {}
        taste = torch.tensor(request.taste_vector, dtype=feats.dtype)
        if taste.shape[0] != feats.shape[1]:
            raise ValueError(f"taste_vector has {taste.shape[0]} dims, expected {feats.shape[1]}")
        # Cosine distance: the taste may be a raw mean of features (eval) or a unit vector (a
        # profile's normalised image affinity); only its direction says what the user likes.
        dist = 1.0 - torch.nn.functional.cosine_similarity(feats, taste[None, :], dim=1)  # [K]
        # Failing candidates are only chosen when none passes (then the gate fails anyway).
        ranked = dist + (~passing).float() * (dist.max() + 1.0)
        pick = int(ranked.argmin())
        return pick, {"taste_distance": float(dist[pick]), "taste_distance_unpersonalized":
                      float(dist[0])}
