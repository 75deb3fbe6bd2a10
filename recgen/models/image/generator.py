"""ImageGenerator: the trained (EMA) generator network plus its condition vocabulary."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from recgen.core.types import Product
from recgen.models.image.artefacts import load_artefact, load_state_strict, save_artefact
from recgen.models.image.data import ConditionVocab
from recgen.models.image.networks import Generator, GeneratorConfig, channels_last

KIND = "recgen-image-generator"


class ImageGenerator:
    """Conditional generator ready for sampling (eval mode, channels-last, no grad)."""

    def __init__(
        self,
        network: Generator,
        vocab: ConditionVocab,
        *,
        name: str = "recgen-cgan64",
        version: str = "unsaved",
        extra: dict[str, Any] | None = None,
        truncation: float = 1.0,
    ) -> None:
        if not 0.0 < truncation <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        self.network = channels_last(network.eval())
        self.vocab = vocab
        self.name = name
        self.version = version
        # Latents are drawn from N(0, truncation^2 I): below 1 trades variety for samples the
        # classifier recognises (the truncation trick). It is chosen for these weights by
        # recgen.models.image.recipe.choose_truncation and saved with them, so a change of it
        # is a new model version (cached images keyed by version are not mixed).
        self.truncation = truncation
        # Free-form training facts (metrics, wall time) carried in config.json.
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def config(self) -> GeneratorConfig:
        return self.network.config

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    def latents(self, count: int, rng: torch.Generator) -> torch.Tensor:
        """[count, z_dim] style latents from this model's sampling distribution."""
        return torch.randn(count, self.z_dim, generator=rng) * self.truncation

    def conditions(self, products: list[Product]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vocab.encode(products)

    @torch.inference_mode()
    def sample(self, z: torch.Tensor, article: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """z [N, z_dim], article [N], colour [N] -> images [N, 3, 64, 64] in [-1, 1]."""
        images: torch.Tensor = self.network(z, article, colour)
        return images

    def save_pretrained(self, path: str | Path) -> str:
        config = {
            "kind": KIND,
            "name": self.name,
            "network": asdict(self.network.config),
            "vocab": self.vocab.to_json(),
            "extra": self.extra,
            "truncation": self.truncation,
        }
        self.version = save_artefact(Path(path), self.network.state_dict(), config)
        return self.version

    @classmethod
    def from_pretrained(cls, path: str | Path) -> ImageGenerator:
        state, config, version = load_artefact(Path(path), KIND)
        net_cfg = dict(config["network"])
        net_cfg["channels"] = tuple(net_cfg["channels"])
        network = Generator(GeneratorConfig(**net_cfg))
        load_state_strict(network, state, Path(path))
        return cls(
            network,
            ConditionVocab.from_json(config["vocab"]),
            name=config["name"],
            version=version,
            extra=config.get("extra", {}),
            truncation=config.get("truncation", 1.0),
        )
