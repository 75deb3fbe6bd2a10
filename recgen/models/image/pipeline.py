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

A pipeline directory (in the manner of diffusers' ``model_index.json``) is the generator's own
directory (``model.safetensors`` + ``config.json``, so ``ImageGenerator.from_pretrained`` still
loads it alone) plus ``model_index.json``: the gate classifier's directory, relative to the
pipeline's (a sub-folder by default, or a path such as ``../image_classifier``), and the
sampling settings. The version hashes the generator's and the classifier's versions (content
hashes of their weights and configs) with the sampling settings, so a change of any of them is a
new version and never serves its images under another's cache keys. ``png_level`` and
``max_batch`` are not part of it: they change the encoding's bytes or the speed, not the image.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from recgen.core.errors import ModelLoadError
from recgen.core.types import GateResult, GeneratedImage, ImageRequest
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.data import to_uint8
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.png import encode_png_batch

PNG_CONTENT_TYPE = "image/png"  # GeneratedImage.png is always PNG
INDEX = "model_index.json"
KIND = "recgen-image-pipeline"
DEFAULT_CLASSIFIER_DIR = "classifier"


@dataclass(frozen=True)
class SamplingConfig:
    """What the pipeline serves beyond its networks' weights; saved in ``model_index.json``."""

    # Latents drawn per personalized request (best-of-N); unpersonalized requests draw one.
    n_candidates: int = 8
    # The gate also needs the classifier's probability of the product's article at least this.
    min_article_prob: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.n_candidates, bool) or not isinstance(self.n_candidates, int) or (
                self.n_candidates < 1):
            raise ValueError(f"n_candidates must be a positive integer, got {self.n_candidates!r}")
        if isinstance(self.min_article_prob, bool) or not isinstance(
                self.min_article_prob, int | float) or not 0.0 <= self.min_article_prob <= 1.0:
            raise ValueError(f"min_article_prob must be in [0, 1], got {self.min_article_prob!r}")
        # 0 and 0.0 are one setting and must hash to one version.
        object.__setattr__(self, "min_article_prob", float(self.min_article_prob))


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
        self.sampling = SamplingConfig(n_candidates, min_article_prob)
        self.png_level = png_level
        self.max_batch = max_batch

    @property
    def name(self) -> str:
        return self.generator.name

    @property
    def version(self) -> str:
        """Hash of the components' versions and the sampling settings (see the module doc)."""
        identity = {"generator": self.generator.version, "classifier": self.classifier.version,
                    "sampling": asdict(self.sampling)}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]

    def save_pretrained(self, path: str | Path, *,
                        classifier_dir: str = DEFAULT_CLASSIFIER_DIR) -> str:
        """Write the generator into ``path``, the classifier into ``path / classifier_dir`` and
        the index naming it; return the version."""
        path = Path(path)
        self.generator.save_pretrained(path)
        self.classifier.save_pretrained(path / classifier_dir)
        index = {"kind": KIND, "classifier": classifier_dir, "sampling": asdict(self.sampling)}
        (path / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        return self.version

    @classmethod
    def from_pretrained(cls, path: str | Path, *,
                        classifier: str | Path | None = None) -> ProductImageGenerator:
        """Load the pipeline at ``path``; ``classifier`` replaces the classifier its index names."""
        path = Path(path)
        index = _read_index(path)
        try:
            sampling = SamplingConfig(**index["sampling"])
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{path / INDEX}: bad sampling settings: {exc}") from exc
        gate_path = Path(classifier) if classifier is not None else _component(path, index)
        generator, gate = ImageGenerator.from_pretrained(path), ImageClassifier.from_pretrained(
            gate_path)
        try:
            return cls(generator, gate, **asdict(sampling))
        except ValueError as exc:
            raise ModelLoadError(f"image pipeline at {path} with the classifier at {gate_path}: "
                                 f"{exc}") from exc

    def latents(self, request: ImageRequest) -> torch.Tensor:
        """[K, z_dim] latents of one request; row 0 is the unpersonalized sample."""
        k = self.sampling.n_candidates if request.taste_vector is not None else 1
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
                p_target >= self.sampling.min_article_prob)
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
        version = self.version
        return [
            GeneratedImage(
                png=png, gate=gate, model_name=self.name, model_version=version, seed=request.seed,
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


def _read_index(path: Path) -> dict[str, Any]:
    file = path / INDEX
    if not file.is_file():
        raise ModelLoadError(f"image pipeline not found: {path} needs {INDEX}")
    try:
        index: dict[str, Any] = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{file} is unreadable: {exc}") from exc
    if index.get("kind") != KIND:
        raise ModelLoadError(f"{file} holds a {index.get('kind')!r}, expected {KIND!r}")
    if not isinstance(index.get("classifier"), str) or not isinstance(index.get("sampling"), dict):
        raise ModelLoadError(f"{file} needs a classifier path and a sampling object")
    return index


def _component(path: Path, index: dict[str, Any]) -> Path:
    # normpath: "../image_classifier" reads as a sibling in messages and in the settings.
    return Path(os.path.normpath(path / index["classifier"]))


def classifier_path(path: str | Path) -> Path:
    """Where the pipeline at ``path`` keeps its gate classifier: as its index names it, else (no
    index written yet) the sub-folder that ``save_pretrained`` writes it to."""
    path = Path(path)
    if not (path / INDEX).is_file():
        return path / DEFAULT_CLASSIFIER_DIR
    return _component(path, _read_index(path))
