"""ImageClassifier: a small CNN trained on the real photos to name the article class and colour.

It is three things at once: the gate (does a generated image show the conditioned article?),
the feature space for FID / diversity (its penultimate, pooled features) and the item image
vector space that user taste vectors live in. It is kept at ~11 M multiply-adds per image so the
gate costs a fraction of the generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from recgen.models.image.artefacts import load_artefact, load_state_strict, save_artefact
from recgen.models.image.data import ConditionVocab, load_photos, to_unit_range
from recgen.models.image.networks import channels_last

KIND = "recgen-image-classifier"


@dataclass(frozen=True)
class ClassifierConfig:
    n_articles: int
    n_colours: int
    # Channels after each stride-2 conv: 32x32, 16x16, 8x8; the last is the feature size D.
    channels: tuple[int, ...] = (24, 48, 96)


class ClassifierNet(nn.Module):
    config: ClassifierConfig

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.channels:
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        # A stride-1 conv at 8x8 widens the receptive field to the whole product.
        layers += [nn.Conv2d(c_in, c_in, 3, padding=1, bias=False), nn.BatchNorm2d(c_in),
                   nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.article_head = nn.Linear(c_in, config.n_articles)
        self.colour_head = nn.Linear(c_in, config.n_colours)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, 64, 64] in [-1, 1] -> pooled features [N, D]."""
        pooled: torch.Tensor = self.body(x).mean(dim=(2, 3))
        return pooled

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (features [N, D], article logits [N, A], colour logits [N, C])."""
        f = self.features(x)
        return f, self.article_head(f), self.colour_head(f)


@dataclass(frozen=True)
class Prediction:
    features: torch.Tensor  # [N, D]
    article_probs: torch.Tensor  # [N, A]
    colour_probs: torch.Tensor  # [N, C]


class ImageClassifier:
    def __init__(self, network: ClassifierNet, vocab: ConditionVocab, *,
                 version: str = "unsaved", extra: dict[str, Any] | None = None) -> None:
        self.network = channels_last(network.eval())
        self.vocab = vocab
        self.version = version
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def feature_dim(self) -> int:
        return self.network.config.channels[-1]

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> Prediction:
        """images [N, 3, 64, 64]: float in [-1, 1] or uint8 photos."""
        x = to_unit_range(images) if images.dtype == torch.uint8 else images
        f, art, col = self.network(x.contiguous(memory_format=torch.channels_last))
        return Prediction(f, art.softmax(1), col.softmax(1))

    def features(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """images [N, 3, 64, 64] -> penultimate features [N, D] (float32)."""
        chunks = [self.predict(images[i : i + batch_size]).features
                  for i in range(0, images.shape[0], batch_size)]
        return torch.cat(chunks) if chunks else torch.zeros(0, self.feature_dim)

    def embed_photos(self, paths: Sequence[str]) -> np.ndarray:
        """Catalog photos by path -> [N, D] float32 item image vectors."""
        return self.features(load_photos(paths)).numpy().astype(np.float32)

    def save_pretrained(self, path: str | Path) -> str:
        config = {"kind": KIND, "network": asdict(self.network.config),
                  "vocab": self.vocab.to_json(), "extra": self.extra}
        self.version = save_artefact(Path(path), self.network.state_dict(), config)
        return self.version

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ImageClassifier:
        state, config, version = load_artefact(Path(path), KIND)
        net_cfg = dict(config["network"])
        net_cfg["channels"] = tuple(net_cfg["channels"])
        network = ClassifierNet(ClassifierConfig(**net_cfg))
        load_state_strict(network, state, Path(path))
        return cls(network, ConditionVocab.from_json(config["vocab"]), version=version,
                   extra=config.get("extra", {}))


def _augment(x: torch.Tensor) -> torch.Tensor:
    """Flip and shift by up to 4 px (white fill): x [N, 3, 64, 64] in [-1, 1]."""
    flip = torch.rand(x.shape[0]) < 0.5
    x[flip] = x[flip].flip(3)
    dx, dy = (int(v) for v in torch.randint(-4, 5, (2,)))
    padded = F.pad(x, (4, 4, 4, 4), value=1.0)
    return padded[:, :, 4 + dy : 68 + dy, 4 + dx : 68 + dx]


def train_classifier(
    photos: torch.Tensor, article: torch.Tensor, colour: torch.Tensor, vocab: ConditionVocab,
    *, epochs: int = 8, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
    init: ImageClassifier | None = None,
) -> tuple[ImageClassifier, dict[str, float]]:
    """photos [N, 3, 64, 64] uint8, article/colour [N] -> trained classifier and final losses.

    ``init`` continues from an existing classifier (a new one-cycle schedule over ``epochs``).
    """
    torch.manual_seed(seed)
    net = init.network if init is not None else ClassifierNet(
        ClassifierConfig(len(vocab.article_classes), len(vocab.colour_classes)))
    net = channels_last(net).train()
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    steps = epochs * (photos.shape[0] // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    running = 0.0
    bar = tqdm(range(steps), desc="classifier", unit="step")
    for step in bar:
        idx = torch.randint(0, photos.shape[0], (batch_size,))
        x = _augment(to_unit_range(photos[idx])).contiguous(memory_format=torch.channels_last)
        _, art_logits, col_logits = net(x)
        loss = F.cross_entropy(art_logits, article[idx]) + 0.5 * F.cross_entropy(
            col_logits, colour[idx])
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        opt.step()
        sched.step()
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        bar.set_postfix(loss=f"{running:.3f}", epoch=f"{step * batch_size / photos.shape[0]:.1f}")
    return ImageClassifier(net, vocab), {"final_loss": running, "epochs": float(epochs)}
