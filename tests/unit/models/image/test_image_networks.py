from __future__ import annotations

import torch

from recgen.models.image.generator import ImageGenerator
from recgen.models.image.networks import Discriminator, DiscriminatorConfig


def _inputs(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randint(0, 5, (n,), generator=g), \
        torch.randint(0, 3, (n,), generator=g)


def test_generator_shape_and_range(tiny_generator: ImageGenerator) -> None:
    out = tiny_generator.sample(*_inputs(3))
    assert out.shape == (3, 3, 64, 64)
    assert out.abs().max() <= 1.0


def test_article_and_colour_conditioning_change_the_image(tiny_generator: ImageGenerator) -> None:
    z, _, _ = _inputs(1)
    base = tiny_generator.sample(z, torch.tensor([0]), torch.tensor([0]))
    other_article = tiny_generator.sample(z, torch.tensor([2]), torch.tensor([0]))
    other_colour = tiny_generator.sample(z, torch.tensor([0]), torch.tensor([1]))
    assert (base - other_article).abs().mean() > 1e-3
    assert (base - other_colour).abs().mean() > 1e-6


def test_sample_does_not_depend_on_the_rest_of_the_batch(tiny_generator: ImageGenerator) -> None:
    z, a, c = _inputs(5)
    batch = tiny_generator.sample(z, a, c)
    alone = tiny_generator.sample(z[2:3], a[2:3], c[2:3])
    torch.testing.assert_close(batch[2:3], alone, atol=1e-5, rtol=0)


def test_flops_count_is_dominated_by_convs(tiny_generator: ImageGenerator) -> None:
    cfg = tiny_generator.config
    rgb = 2 * 32 * 32 * 9 * cfg.channels[-1] * 12
    assert tiny_generator.network.flops_per_image() > rgb


def test_discriminator_projection_uses_the_condition() -> None:
    torch.manual_seed(0)
    d = Discriminator(DiscriminatorConfig(5, 3, channels=(4, 8, 8, 8))).eval()
    x = torch.randn(2, 3, 64, 64)
    logits = d(x, torch.tensor([0, 1]), torch.tensor([0, 0]))
    assert logits.shape == (2,)
    assert not torch.allclose(logits, d(x, torch.tensor([3, 4]), torch.tensor([0, 0])))
