"""The conditional GAN's networks: a light modulated-conv generator and a projection critic.

Generator: every sample's output depends only on its own (z, article, colour), never on the
rest of the batch (pixel norm instead of batch norm), so a request's image is the same whatever
batch it is sampled in. Conditioning enters twice: in the 4x4 seed and as a per-block gain/bias
(BigGAN-style shared embedding concatenated with z, so z also acts per block).

Discriminator: spectral-normalised strided convs, sum-pooled, with a projection head
(Miyato & Koyama 2018) for both the article class and the colour class.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

M = TypeVar("M", bound=nn.Module)


def channels_last(module: M) -> M:
    """Channels-last weights: oneDNN's fast conv layout on CPU (the stubs lack this overload)."""
    module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return module


@dataclass(frozen=True)
class GeneratorConfig:
    n_articles: int
    n_colours: int
    z_dim: int = 64
    article_dim: int = 48
    colour_dim: int = 16
    # Channels at 4x4, 8x8, 16x16, 32x32; the 64x64 step is a pixel shuffle (cheap).
    channels: tuple[int, ...] = (256, 128, 48, 24)
    image_size: int = 64
    # Add a per-article template (mean training photo, pre-tanh) to the output, so the network
    # learns a residual: the article's silhouette is right from the first step and the scarce
    # CPU steps go to colour, detail and variety instead of re-discovering the shape.
    use_templates: bool = True

    @property
    def cond_dim(self) -> int:
        return self.article_dim + self.colour_dim + self.z_dim


@dataclass(frozen=True)
class DiscriminatorConfig:
    n_articles: int
    n_colours: int
    # Channels after each stride-2 conv: 32x32, 16x16, 8x8, 4x4.
    channels: tuple[int, ...] = (24, 48, 96, 192)


class ModulatedBlock(nn.Module):
    """x2 nearest upsample -> 3x3 conv -> pixel norm -> conditional gain/bias -> LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.affine = nn.Linear(cond_dim, 2 * c_out)
        # Start as identity modulation (gain 1, bias 0) so early training is stable.
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # x: [N, c_in, H, W] -> [N, c_out, 2H, 2W]; cond: [N, cond_dim]
        x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        x = x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        gain, bias = self.affine(cond)[:, :, None, None].chunk(2, dim=1)
        return F.leaky_relu(x * (1.0 + gain) + bias, 0.2)


class Generator(nn.Module):
    config: GeneratorConfig
    templates: torch.Tensor  # [n_articles, 3, S, S] buffer, saved with the weights

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        self.article_emb = nn.Embedding(config.n_articles, config.article_dim)
        self.colour_emb = nn.Embedding(config.n_colours, config.colour_dim)
        self.seed = nn.Linear(config.cond_dim, ch[0] * 16)
        self.blocks = nn.ModuleList(
            ModulatedBlock(a, b, config.cond_dim) for a, b in pairwise(ch)
        )
        # 32x32 features -> 12 channels -> pixel shuffle -> 3 x 64x64: the last x2 step costs
        # one small conv at 32x32 instead of an upsample plus a conv at 64x64.
        self.to_rgb = nn.Conv2d(ch[-1], 12, 3, padding=1)
        size = config.image_size if config.use_templates else 0
        self.register_buffer("templates", torch.zeros(config.n_articles, 3, size, size))

    def forward(self, z: torch.Tensor, article: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """z [N, z_dim], article [N], colour [N] -> images [N, 3, S, S] in [-1, 1]."""
        cond = torch.cat([self.article_emb(article), self.colour_emb(colour), z], dim=1)
        x = F.leaky_relu(self.seed(cond), 0.2).view(z.shape[0], -1, 4, 4)
        for block in self.blocks:
            x = block(x, cond)
        out = F.pixel_shuffle(self.to_rgb(x), 2)  # [N, 3, 64, 64] pre-tanh
        if self.config.use_templates:
            out = out + self.templates[article]
        return torch.tanh(out)

    @torch.no_grad()
    def set_templates(self, images: torch.Tensor, article: torch.Tensor) -> None:
        """Templates = atanh of each article's mean image; images [N, 3, S, S] in [-1, 1]."""
        for a in range(self.config.n_articles):
            mine = images[article == a]
            if len(mine):
                self.templates[a] = torch.atanh(mine.mean(0).clamp(-0.95, 0.95))

    def flops_per_image(self) -> int:
        """Multiply-adds x 2 of one forward pass (convs and linears; activations ignored)."""
        c, total, side = self.config, 0, 4
        total += 2 * c.cond_dim * c.channels[0] * 16
        for a, b in pairwise(c.channels):
            side *= 2
            total += 2 * side * side * 9 * a * b + 2 * c.cond_dim * 2 * b
        return total + 2 * side * side * 9 * c.channels[-1] * 12


class Discriminator(nn.Module):
    config: DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.channels:
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        # One extra 3x3 conv at 4x4 gives the critic some spatial reasoning at low cost.
        layers += [spectral_norm(nn.Conv2d(c_in, c_in, 3, padding=1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(c_in, 1))
        self.article_proj = spectral_norm(nn.Embedding(config.n_articles, c_in))
        self.colour_proj = spectral_norm(nn.Embedding(config.n_colours, c_in))

    def forward(self, x: torch.Tensor, article: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """x [N, 3, 64, 64] -> realness logits [N]."""
        h = self.body(x).sum(dim=(2, 3))  # [N, C]
        proj = (self.article_proj(article) * h).sum(1) + (self.colour_proj(colour) * h).sum(1)
        logits: torch.Tensor = self.linear(h).squeeze(1) + proj
        return logits
