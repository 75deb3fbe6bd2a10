"""The lean Llama forward must be the checkpoint's own forward, only cheaper: same logits
step by step, same decoded ids, and it stands aside for checkpoints it does not cover."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from recgen.models.text import llama_decoder
from recgen.models.text.llama_decoder import Linear, LlamaDecoder, onednn_available
from recgen.models.text.sampling import (
    SamplingSettings,
    _left_pad,
    _LlamaBatch,
    _TransformersBatch,
    decode_batch,
)

VOCAB, PAD, EOS = 97, 0, 1
LAYOUTS = {
    "multi-head": {},
    "grouped-query with biases": {"num_key_value_heads": 2, "attention_bias": True,
                                  "mlp_bias": True},
    "multi-query, linear rope scaling": {
        "num_key_value_heads": 1,
        "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}},
}
# Both matmul backends: oneDNN where this torch build has it, plain torch ops everywhere.
BACKENDS = [pytest.param(True, id="onednn", marks=pytest.mark.skipif(
                not onednn_available(), reason="this torch build has no oneDNN")),
            pytest.param(False, id="torch")]


def llama(**overrides: Any) -> LlamaForCausalLM:
    torch.manual_seed(0)
    settings = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 96,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
                "max_position_embeddings": 128, "pad_token_id": PAD, "eos_token_id": EOS}
    config = LlamaConfig(**(settings | overrides))
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # zero-initialised biases would hide a misplaced one
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(std=0.5)
    return model


def prompts() -> list[list[int]]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(3, VOCAB, (n,), generator=generator).tolist() for n in (3, 9, 6, 9)]


@pytest.mark.parametrize("onednn", BACKENDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
def test_linear_epilogues_are_the_plain_math(onednn: bool, bias: bool) -> None:
    generator = torch.Generator().manual_seed(2)
    weight, x, other = (torch.randn(shape, generator=generator)
                        for shape in ((24, 16), (5, 16), (5, 24)))
    b = torch.randn(24, generator=generator) if bias else None
    linear = Linear(weight, b, onednn)
    product = x @ weight.T + (0 if b is None else b)
    close = {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(linear(x), product, **close)
    torch.testing.assert_close(linear.silu(x), torch.nn.functional.silu(product), **close)
    torch.testing.assert_close(linear.times(x, other), product * other, **close)
    torch.testing.assert_close(linear.plus(x, other), product + other, **close)


@pytest.mark.parametrize("onednn", BACKENDS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_logits_match_the_checkpoint_forward_at_every_step(layout: str, onednn: bool) -> None:
    model = llama(**LAYOUTS[layout])
    assert llama_decoder.supports(model)
    ids, prompt_mask = _left_pad(prompts(), PAD)
    assert not bool(prompt_mask.all())  # left padding is exercised
    steps = 6
    with torch.inference_mode():
        lean = _LlamaBatch(LlamaDecoder(model, onednn), ids, prompt_mask, steps)
        reference = _TransformersBatch(model, ids, prompt_mask, steps)
        ours, theirs = lean.prefill(), reference.prefill()
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
        for step in range(steps - 1):
            token = theirs.argmax(-1)
            if step == 2:  # drop a row midway, as decoding does when one finishes
                keep = torch.tensor([0, 2, 3])
                assert lean.keep(keep) and reference.keep(keep)
                token = token[keep]
            ours, theirs = lean.step(token, step), reference.step(token, step)
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("onednn", BACKENDS)
@pytest.mark.parametrize("greedy", [True, False])
def test_decoded_ids_match_the_checkpoint_forward(greedy: bool, onednn: bool) -> None:
    model = llama(num_key_value_heads=2)
    with torch.no_grad():  # peaked logits, so that rows end at different steps
        model.lm_head.weight.mul_(8)
    batch = prompts() * 3
    settings = SamplingSettings(max_new_tokens=16, greedy=greedy)
    args = {"eos_id": EOS, "pad_id": PAD, "settings": settings, "banned": [2]}
    seeds = list(range(len(batch)))
    lean = decode_batch(model, batch, seeds, decoder=LlamaDecoder(model, onednn), **args)
    assert lean == decode_batch(model, batch, seeds, **args)
    assert all(2 not in row for row in lean)


def test_checkpoints_outside_the_layout_keep_their_own_forward() -> None:
    assert not llama_decoder.supports(GPT2LMHeadModel(GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2, n_positions=64)))
    assert not llama_decoder.supports(llama(
        rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}))
    assert not llama_decoder.supports(llama(hidden_act="gelu"))


@pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN")
def test_onednn_primitives_that_disagree_with_the_plain_math_are_not_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = torch.ops.mkldnn._linear_pointwise

    class Off:  # the product off by one everywhere, as a changed internal operator might be
        binary = real.binary

        def __call__(self, *args: Any) -> torch.Tensor:
            return real(*args) + 1

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", Off())
    onednn_available.cache_clear()
    try:
        assert not onednn_available()
        assert LlamaDecoder(llama()).lm_head.packed is None  # decodes on plain torch ops
    finally:
        monkeypatch.undo()
        onednn_available.cache_clear()
    assert onednn_available()


@pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN")
def test_onednn_sees_a_few_row_counts_whatever_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN keeps a compiled primitive per input shape: the rows it is given are padded to
    a multiple of 16 (a decoding step) or of 1,024 (a prefill), never the batch's own count."""
    real, seen = torch.ops.mkldnn._linear_pointwise, set()

    class Recording:
        def __call__(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
            seen.add(x.shape[0])
            return real(x, *args)

        def binary(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
            seen.add(x.shape[0])
            return real.binary(x, *args)

    model = llama(num_key_value_heads=2)
    with torch.no_grad():  # peaked logits, so that rows end at different steps
        model.lm_head.weight.mul_(8)
    decoder = LlamaDecoder(model, onednn=True)
    batch = prompts() * 10  # 40 rows of 3 to 9 tokens: a prefill of 360 rows
    args = {"eos_id": EOS, "pad_id": PAD, "settings": SamplingSettings(max_new_tokens=16)}
    reference = decode_batch(model, batch, list(range(40)), decoder=decoder, **args)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", Recording())
    assert decode_batch(model, batch, list(range(40)), decoder=decoder, **args) == reference
    assert seen >= {48, 1024}  # 40 rows padded, a 360-row prefill padded
    assert all(rows % (16 if rows <= 256 else 1024) == 0 for rows in seen)
