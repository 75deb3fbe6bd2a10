"""The classic fully-connected GAN (Goodfellow et al. 2014 style), the FID reference in bench/.

Generator: latent 100 -> 256 -> 512 -> 1024 -> 3*64*64, tanh (LeakyReLU between layers).
Discriminator: image -> 1024 -> 512 -> 256 -> 1 with dropout. Adam 2e-4, beta1 0.5, BCE.
It is unconditional: it cannot be asked for an article type, which is part of the comparison.
Trained for the same wall-clock budget as the cGAN, on the same photos.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from recgen.models.image.artefacts import load_artefact, load_state_strict, save_artefact
from recgen.models.image.data import to_unit_range

KIND = "recgen-mlp-gan-baseline"
LATENT = 100
SIDE = 64


class MlpGenerator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(LATENT, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 3 * SIDE * SIDE), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [N, 100] -> images [N, 3, 64, 64] in [-1, 1]."""
        images: torch.Tensor = self.net(z).view(-1, 3, SIDE, SIDE)
        return images


class MlpDiscriminator(nn.Module):
    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3 * SIDE * SIDE, 1024), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(256, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, 64, 64] -> logits [N]."""
        logits: torch.Tensor = self.net(x.flatten(1)).squeeze(1)
        return logits


def train_mlp_gan(
    photos: torch.Tensor, *, seconds: float, batch_size: int = 64, seed: int = 0
) -> tuple[MlpGenerator, dict[str, float]]:
    """Train on photos [N, 3, 64, 64] uint8 until ``seconds`` of wall time are spent."""
    torch.manual_seed(seed)
    g, d = MlpGenerator(), MlpDiscriminator()
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)
    step, started = 0, time.monotonic()
    bar = tqdm(total=int(seconds), unit="s", desc="MLP GAN baseline")
    while (elapsed := time.monotonic() - started) < seconds:
        real = to_unit_range(photos[torch.randint(0, photos.shape[0], (batch_size,))])
        fake = g(torch.randn(batch_size, LATENT))
        d_loss = F.binary_cross_entropy_with_logits(d(real), ones) + \
            F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
        opt_d.zero_grad(set_to_none=True)
        torch.autograd.backward(d_loss)
        opt_d.step()
        # Non-saturating generator loss, as in the original paper's practical advice.
        g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)
        opt_g.zero_grad(set_to_none=True)
        torch.autograd.backward(g_loss)
        opt_g.step()
        step += 1
        bar.update(int(elapsed) - bar.n)
        bar.set_postfix(step=step, d=f"{d_loss.item():.2f}", g=f"{g_loss.item():.2f}")
    bar.close()
    stats = {"steps": float(step), "epochs": step * batch_size / photos.shape[0],
             "train_seconds": time.monotonic() - started}
    return g.eval(), stats


def save_baseline(g: MlpGenerator, path: Path, stats: dict[str, float]) -> str:
    return save_artefact(path, g.state_dict(), {"kind": KIND, "training": stats}, fp16=False)


def load_baseline(path: Path) -> MlpGenerator:
    state, _, _ = load_artefact(path, KIND)
    g = MlpGenerator()
    load_state_strict(g, state, path)
    return g.eval()
