"""Conditions (article type + colour group) and the 64x64 photo tensors the image models train on.

Rare article types are grouped into their sub-category (and rare sub-categories into "Other")
so that every class the generator is conditioned on has enough photos to learn from.
Decoding 8k JPEGs costs about a minute of one core, so the downsampled uint8 photos are cached
once as safetensors under var/ and every epoch after that is a tensor slice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from recgen.core.types import Product

OTHER = "Other"


@dataclass(frozen=True)
class ConditionVocab:
    """Maps a product to (article class, colour class) indices; stored in every model config."""

    article_classes: tuple[str, ...]
    colour_classes: tuple[str, ...]
    # Article types kept as their own class; the rest fall back to "sub:<subCategory>".
    sub_classes: tuple[str, ...]

    @classmethod
    def fit(cls, products: Sequence[Product], *, min_count: int = 40) -> ConditionVocab:
        """Build the class lists from training products (rare types -> sub-category -> Other)."""
        types = Counter(p.article_type for p in products)
        kept = {t for t, n in types.items() if n >= min_count}
        subs = Counter(p.sub_category for p in products if p.article_type not in kept)
        kept_subs = {s for s, n in subs.items() if n >= min_count}
        articles = sorted(kept) + sorted(f"sub:{s}" for s in kept_subs) + [OTHER]
        colours = sorted({p.colour_group for p in products})
        return cls(tuple(articles), tuple(colours), tuple(sorted(kept_subs)))

    def article_label(self, product: Product) -> str:
        if product.article_type in self.article_classes:
            return product.article_type
        if product.sub_category in self.sub_classes:
            return f"sub:{product.sub_category}"
        return OTHER

    def article_index(self, product: Product) -> int:
        return self.article_classes.index(self.article_label(product))

    def colour_index(self, product: Product) -> int:
        # An unseen colour group maps to the most neutral known one rather than failing.
        colour = product.colour_group
        if colour not in self.colour_classes:
            colour = "Multi" if "Multi" in self.colour_classes else self.colour_classes[0]
        return self.colour_classes.index(colour)

    def encode(self, products: Sequence[Product]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (article [N] int64, colour [N] int64)."""
        art = torch.tensor([self.article_index(p) for p in products], dtype=torch.long)
        col = torch.tensor([self.colour_index(p) for p in products], dtype=torch.long)
        return art, col

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConditionVocab:
        return cls(
            tuple(data["article_classes"]), tuple(data["colour_classes"]),
            tuple(data["sub_classes"]),
        )


def load_photo(path: str | Path, size: int = 64) -> np.ndarray:
    """Decode a photo to [size, size, 3] uint8; JPEG draft mode decodes at reduced scale."""
    with Image.open(path) as img:
        img.draft("RGB", (size * 2, size * 2))
        rgb = img.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BOX)
        return np.asarray(rgb, dtype=np.uint8)


def load_photos(paths: Sequence[str], size: int = 64, *, progress: bool = False) -> torch.Tensor:
    """Photos as a [N, 3, size, size] uint8 tensor."""
    arrays = [load_photo(p, size) for p in tqdm(paths, desc="photos", disable=not progress)]
    if not arrays:
        return torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def to_unit_range(photos: torch.Tensor) -> torch.Tensor:
    """uint8 [N,3,H,W] -> float [N,3,H,W] in [-1, 1] (the generator's tanh range)."""
    return photos.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8, same shape."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def cached_photos(products: Sequence[Product], cache_dir: Path, size: int = 64) -> torch.Tensor:
    """[N, 3, size, size] uint8 photos of products (all must have image_path), cached on disk.

    The cache file is keyed by the product ids and paths, so a different catalog never reuses
    a stale cache.
    """
    paths = [p.image_path for p in products]
    if any(p is None for p in paths):
        raise ValueError("every product needs an image_path")
    key = hashlib.sha256(
        "|".join(f"{p.product_id}:{p.image_path}" for p in products).encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"photos_{size}_{key}.safetensors"
    if cache.is_file():
        return load_file(cache)["photos"]
    photos = load_photos([str(p) for p in paths], size, progress=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    save_file({"photos": photos}, cache)
    return photos
