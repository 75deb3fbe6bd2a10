"""Training the conditional GAN for a fixed wall-clock budget (resumable, with sample grids).

Choices for ~7.5k photos on a CPU (the model card explains them):
- hinge loss + spectral norm + projection discriminator: the stable small-data recipe;
- differentiable augmentation (translation + cutout) on every image the critic sees, real or
  fake, so the critic cannot memorise 7.5k photos; no colour jitter, because colour is a
  condition;
- mode-seeking regulariser (MSGAN): two latents per condition, penalise 1 / image distance;
- EMA copy of the generator (``torch.optim.swa_utils.AveragedModel``), which is what ships.

Checkpoints (``recgen.models.common.checkpoint``) hold the generator, the critic, the EMA and
both optimizers with the two networks' configs, so a resume with another architecture fails
naming the field.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from PIL import Image
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from recgen.models.common.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    optimizer_groups,
    save_checkpoint,
)
from recgen.models.image.data import ConditionVocab, to_uint8, to_unit_range
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    channels_last,
)

Params = tuple[torch.Tensor, ...] | list[torch.Tensor]  # what AveragedModel averages


@dataclass(frozen=True)
class GanTrainConfig:
    seconds: float = 38 * 60
    batch_size: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.99)
    # No weight decay by default, as usual for GANs; when set, on matrices only
    # (optimizer_groups).
    weight_decay: float = 0.0
    ema_decay: float = 0.999
    mode_seeking: float = 0.5
    checkpoint_every_s: float = 300.0
    seed: int = 0


def diff_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random translation (1/8 of the side) and cutout (1/2 side) per image; x [N, 3, S, S].

    Both are differentiable w.r.t. x, so the generator learns through the augmented critic.
    """
    n, _, s, _ = x.shape
    shift = torch.randint(-s // 8, s // 8 + 1, (n, 2), generator=generator).float() * (2.0 / s)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # "border" repeats the edge, which on these photos is the white studio background.
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    centre = torch.randint(0, s, (n, 2), generator=generator)
    coords = torch.arange(s)
    rows = (coords[None, :] - centre[:, :1]).abs() < s // 4  # [N, S]
    cols = (coords[None, :] - centre[:, 1:]).abs() < s // 4  # [N, S]
    keep = ~(rows[:, :, None] & cols[:, None, :])  # [N, S, S]
    return x * keep[:, None].to(x.dtype)


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> None:
    """images [N, 3, S, S] in [-1, 1] -> one PNG grid of nrow columns."""
    n, _, s, _ = images.shape
    ncol = math.ceil(n / nrow)
    grid = torch.full((3, ncol * s, nrow * s), 255, dtype=torch.uint8)
    for i, img in enumerate(to_uint8(images)):
        r, c = divmod(i, nrow)
        grid[:, r * s : (r + 1) * s, c * s : (c + 1) * s] = img
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(path)


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """MSGAN term: the batch halves share conditions and differ only in z."""
    half = fake.shape[0] // 2
    image_gap = (fake[:half] - fake[half : 2 * half]).abs().mean()
    z_gap = (z[:half] - z[half : 2 * half]).abs().mean()
    # +0.05 (MSGAN uses 1e-5) bounds the term while the template makes samples alike.
    return 1.0 / (image_gap / z_gap + 0.05)


def generator_ema(generator: torch.nn.Module, decay: float) -> AveragedModel:
    """An EMA of ``generator`` whose decay warms up as min(decay, (1 + n) / (10 + n)) over its
    n updates so far: early on it follows the generator instead of remembering its random init.
    """

    @torch.no_grad()
    def update(ema: Params, current: Params, n_averaged: torch.Tensor | int) -> None:
        n = int(n_averaged)
        warmed = min(decay, (1 + n) / (10 + n))
        get_ema_multi_avg_fn(warmed)(ema, current, n_averaged)  # type: ignore[no-untyped-call]

    # use_buffers=False: the article templates (a buffer) are copied, never averaged.
    return AveragedModel(generator, multi_avg_fn=update).eval().requires_grad_(False)


def train_gan(
    photos: torch.Tensor,
    article: torch.Tensor,
    colour: torch.Tensor,
    vocab: ConditionVocab,
    *,
    work_dir: Path,
    config: GanTrainConfig = GanTrainConfig(),
    generator_config: GeneratorConfig | None = None,
    resume: bool = True,
    on_sample: Callable[[int], None] | None = None,
) -> tuple[ImageGenerator, dict[str, float]]:
    """Train on photos [N, 3, 64, 64] uint8 with conditions [N]; return the EMA generator.

    Training stops when ``config.seconds`` of training wall time (summed over resumes) is spent.
    """
    torch.manual_seed(config.seed)
    g_cfg = generator_config or GeneratorConfig(
        len(vocab.article_classes), len(vocab.colour_classes))
    g = Generator(g_cfg)
    if g_cfg.use_templates:
        g.set_templates(to_unit_range(photos), article)
    g = channels_last(g)
    d_cfg = DiscriminatorConfig(g_cfg.n_articles, g_cfg.n_colours)
    d = channels_last(Discriminator(d_cfg))
    g_ema = generator_ema(g, config.ema_decay)
    # AdamW at weight decay 0 is Adam; with decay it is the decoupled kind, on matrices only.
    opt_g = torch.optim.AdamW(optimizer_groups(g, config.weight_decay), config.lr_g,
                              betas=config.betas)
    opt_d = torch.optim.AdamW(optimizer_groups(d, config.weight_decay), config.lr_d,
                              betas=config.betas)
    modules = {"g": g, "d": d, "g_ema": g_ema}
    optimizers: dict[str, torch.optim.Optimizer] = {"opt_g": opt_g, "opt_d": opt_d}
    architecture = {"generator": asdict(g_cfg), "discriminator": asdict(d_cfg)}
    step, elapsed = 0, 0.0
    if resume and has_checkpoint(work_dir):
        meta = load_checkpoint(work_dir, modules=modules, optimizers=optimizers,
                               config=architecture)
        step, elapsed = int(meta["step"]), float(meta["elapsed"])
    # Fixed grid conditions: first 8 classes x 4 latents, the same in every grid.
    grid_art = torch.arange(8).repeat_interleave(4) % g_cfg.n_articles
    grid_col = torch.zeros_like(grid_art)
    grid_z = torch.randn(32, g_cfg.z_dim, generator=torch.Generator().manual_seed(1))
    n, b = photos.shape[0], config.batch_size
    half = b // 2
    last_ckpt = time.monotonic()
    losses = {"d": 0.0, "g": 0.0, "ms": 0.0}
    bar = tqdm(total=int(config.seconds), initial=int(elapsed), unit="s", desc="cGAN")
    while elapsed < config.seconds:
        t0 = time.monotonic()
        idx = torch.randint(0, n, (b,))
        real = to_unit_range(photos[idx])
        flip = torch.rand(b) < 0.5
        real[flip] = real[flip].flip(3)
        real = real.contiguous(memory_format=torch.channels_last)
        a_real, c_real = article[idx], colour[idx]
        # Fake conditions: the first half of the real conditions, twice (for mode seeking).
        a_fake, c_fake = a_real[:half].repeat(2), c_real[:half].repeat(2)
        z = torch.randn(2 * half, g_cfg.z_dim)
        fake = g(z, a_fake, c_fake)

        d_loss = F.relu(1.0 - d(diff_augment(real), a_real, c_real)).mean() + F.relu(
            1.0 + d(diff_augment(fake.detach()), a_fake, c_fake)
        ).mean()
        opt_d.zero_grad(set_to_none=True)
        torch.autograd.backward(d_loss)
        opt_d.step()

        ms = mode_seeking_loss(fake, z)
        g_loss = -d(diff_augment(fake), a_fake, c_fake).mean() + config.mode_seeking * ms
        opt_g.zero_grad(set_to_none=True)
        torch.autograd.backward(g_loss)
        opt_g.step()

        g_ema.update_parameters(g)
        step += 1
        for key, value in (("d", d_loss), ("g", g_loss), ("ms", ms)):
            losses[key] = 0.98 * losses[key] + 0.02 * value.item()
        dt = time.monotonic() - t0
        elapsed += dt
        bar.update(int(elapsed) - bar.n)
        bar.set_postfix(step=step, epoch=f"{step * b / n:.1f}",
                        **{k: f"{v:.2f}" for k, v in losses.items()})
        if time.monotonic() - last_ckpt > config.checkpoint_every_s or elapsed >= config.seconds:
            save_checkpoint(work_dir, modules=modules, optimizers=optimizers,
                            config=architecture, meta={"step": step, "elapsed": elapsed})
            with torch.no_grad():
                grid = g_ema(grid_z, grid_art, grid_col)
            save_grid(grid, work_dir / "samples" / f"step{step:06d}.png", nrow=8)
            if on_sample is not None:
                on_sample(step)
            last_ckpt = time.monotonic()
    bar.close()
    stats = {"steps": float(step), "epochs": step * b / n, "train_seconds": elapsed,
             "images_seen": float(step * b)}
    return ImageGenerator(cast(Generator, g_ema.module), vocab), stats
