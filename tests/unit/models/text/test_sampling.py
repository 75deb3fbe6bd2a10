"""The sampling shortcuts must not change a single draw: the grouped argmax is torch's argmax,
and rows that skip the top-k draw what the top-k/top-p path would have drawn."""

from __future__ import annotations

import pytest
import torch

from recgen.models.text.sampling import (
    SamplingSettings,
    _sample_top_k_top_p,
    argmax_rows,
    choose_next,
    request_noise,
)


@pytest.mark.parametrize("width", [4096, 97], ids=["grouped", "indivisible"])
def test_argmax_rows_is_the_first_maximum(width: int) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, width, generator=generator)
    x[0] = 1.0  # ties everywhere: the first column
    x[1, 5], x[1, width - 3] = 9.0, 9.0  # a tie across groups: the first one
    x[2, :] = float("-inf")
    x[2, width - 1] = 0.0  # the only finite value, in the last group
    assert torch.equal(argmax_rows(x), x.argmax(dim=-1))
    assert argmax_rows(x)[:3].tolist() == [0, 5, width - 1]


def test_rows_sure_of_their_top_token_draw_what_the_full_path_draws() -> None:
    settings = SamplingSettings()
    generator = torch.Generator().manual_seed(1)
    # A vocabulary not much wider than top_k, so that renormalising over the top k barely
    # raises a row's top probability: rows just under top_p then do draw other tokens.
    rows, vocab = 1000, 64
    logits = torch.randn(rows, vocab, generator=generator)
    # Set each row's top logit so that its full-vocabulary probability is a chosen target,
    # p = e^(a/T) / (e^(a/T) + rest): sure rows, unsure rows, and a band right at top_p.
    near = settings.top_p + torch.tensor([-1e-4, -1e-5, 0.0, 1e-5, 1e-4, 2e-4])
    under = torch.linspace(settings.top_p - 0.03, settings.top_p, 300)
    target = torch.cat([torch.linspace(0.5, 0.999, rows - len(near) - len(under)), under,
                        near]).double()
    top = logits.argmax(dim=-1)
    rest = (logits.double() / settings.temperature).exp().sum(-1) - (
        logits.double().amax(-1) / settings.temperature).exp()
    top_logit = settings.temperature * torch.log(target * rest / (1 - target))
    logits[torch.arange(rows), top] = top_logit.float()
    top_prob = torch.softmax(logits / settings.temperature, dim=-1).amax(dim=-1)
    assert bool((top_prob > settings.top_p).any()) and bool((top_prob < settings.top_p).any())
    assert bool(((top_prob - settings.top_p).abs() < 1e-4).any())
    noise = request_noise(range(rows), 1, settings.top_k)[:, 0]
    expected = _sample_top_k_top_p(logits, noise, settings)
    assert torch.equal(choose_next(logits, noise, settings), expected)
    assert bool((expected != top).any())  # unsure rows do draw other tokens


def test_greedy_is_the_argmax() -> None:
    logits = torch.randn(8, 300, generator=torch.Generator().manual_seed(2))
    greedy = SamplingSettings(greedy=True)
    assert torch.equal(choose_next(logits, None, greedy), logits.argmax(dim=-1))
