"""A lean batched forward for Llama-layout checkpoints, used by the decode loop in place of the
model's own ``forward`` when the checkpoint fits the layout.

Why: on 2 CPU cores a decoding step of a small model is dominated by its matmuls and by the
per-operator overhead and memory traffic around them. Here:

- every matmul runs on oneDNN with its weight prepacked once, where torch ships it (the
  default x86 and ARM builds). On this machine's AVX-512 cores oneDNN multiplies the model's
  shapes up to 1.7x as fast as torch's default BLAS (the LM head; the smallest ones about
  even), and its fused epilogues take the SiLU, the gate-times-up product and the residual
  adds into the matmul that produces their input;
- the RMSNorm weights, and the attention's 1/sqrt(head_dim), are folded into the weights of
  the projection that follows them, once per decoder;
- q/k/v is one matmul, and the rotary embedding of q and k is one complex multiply;
- attention is two batched matmuls over the filled part of a preallocated KV cache, the
  queries that share a KV head in one block, with a mask only where a query must not see
  some key (the prompt's causal block, a row's left padding).

``bench/text_bench.py`` measures this forward against the checkpoint's own on the default model.

Exactness: the same math as the checkpoint's forward, up to float rounding (tests compare the
logits at every step and the decoded ids). The rotary trick permutes the rows of the q and k
projections of every head so that the elements rotate-half pairs (i and i + head_dim / 2) sit
next to each other; attention scores are dot products of q and k, which a permutation applied
to both leaves unchanged, and v is not permuted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeGuard, cast

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM, PreTrainedModel
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm

# Rotary variants whose frequencies do not depend on the sequence length (a table computed
# once per batch is exact for them); "dynamic" and "longrope" rescale with the length.
_STATIC_ROPE = frozenset({"default", "linear", "llama3", "yarn"})


def supports(model: PreTrainedModel) -> TypeGuard[LlamaForCausalLM]:
    """Whether :class:`LlamaDecoder` reproduces this model's forward exactly."""
    config = model.config
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
    return (isinstance(model, LlamaForCausalLM) and config.hidden_act == "silu"
            and getattr(config, "pretraining_tp", 1) == 1 and rope in _STATIC_ROPE)


@functools.cache
def onednn_available() -> bool:
    """Whether this torch build runs :class:`Linear` on oneDNN, and gets the plain math's
    results there. The primitives are torch's internal operators (those its compiler fuses
    into), so a build that lacks or changed them decodes on plain torch ops instead."""
    if not (bool(torch.backends.mkldnn.is_available())  # type: ignore[no-untyped-call]
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    generator = torch.Generator().manual_seed(0)
    weight, x, other = (torch.randn(shape, generator=generator)
                        for shape in ((8, 4), (3, 4), (3, 8)))
    bias = torch.randn(8, generator=generator)
    try:
        fast, plain = Linear(weight, bias, onednn=True), Linear(weight, bias, onednn=False)
        return all(torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5) for ours, theirs in (
            (fast(x), plain(x)), (fast.silu(x), plain.silu(x)),
            (fast.times(x, other), plain.times(x, other)),
            (fast.plus(x, other), plain.plus(x, other))))
    except (RuntimeError, TypeError):
        return False


# oneDNN compiles and keeps a primitive for every input shape it runs (up to 1,024 of them,
# about 0.2 MB each at decoding sizes here and 2 MB at prefill sizes). Decoding meets nearly
# every row count (rows leave the batch as they finish, prompts differ in length), which grew a
# worker by about 50 MB per batch until it was recycled. Rows are therefore padded to a few
# counts: a multiple of 16 up to 256 (a decoding step), of 1,024 beyond (a prefill). With the
# default model that bounds the cache at about 180 MB, and the padding costs no measurable
# rate (1.00x over four interleaved pairs; running prefills on torch's BLAS instead: 0.91x).
def _padded(rows: int) -> int:
    step = 16 if rows <= 256 else 1024
    return -(-rows // step) * step


class Linear:
    """``x @ weight.T + bias`` for a 2-D ``x``, and the epilogues the forward fuses into it.

    On oneDNN the weight is prepacked once into the primitive's own layout and each call is one
    primitive, epilogue included; otherwise each method is the same math in plain torch ops.
    """

    __slots__ = ("bias", "packed", "weight")

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, onednn: bool) -> None:
        self.weight, self.bias = weight, bias
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight) if onednn else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._product(x, None, "none")

    def silu(self, x: torch.Tensor) -> torch.Tensor:
        """SiLU of the product."""
        return self._product(x, None, "swish")

    def times(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """The product, element-wise times ``other``."""
        return self._product(x, other, "mul")

    def plus(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual`` plus the product."""
        return self._product(x, residual, "add")

    def _product(self, x: torch.Tensor, other: torch.Tensor | None, op: str) -> torch.Tensor:
        if self.packed is None:
            product = F.linear(x, self.weight, self.bias)
            if op == "swish":
                return F.silu(product)
            if other is None:
                return product
            return product * other if op == "mul" else product + other
        rows = x.shape[0]
        padding = _padded(rows) - rows
        if padding:
            x = F.pad(x, (0, 0, 0, padding))
            other = None if other is None else F.pad(other, (0, 0, 0, padding))
        if other is None:
            y = torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, op, [], "")
        else:
            y = torch.ops.mkldnn._linear_pointwise.binary(x, other, self.packed, self.bias, op)
        return cast(torch.Tensor, y[:rows] if padding else y)


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv: Linear  # q, k, v rows; q and k rotary-paired, q scaled, the input norm's weight folded
    out: Linear
    gate: Linear  # gate and up: the MLP norm's weight folded
    up: Linear
    down: Linear


def _pair_rotary_rows(weight: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """Reorder each head's output rows (of a weight or a bias) from [x0..x(d/2-1),
    y0..y(d/2-1)] (rotate-half layout) to [x0, y0, x1, y1, ...], so that (x_i, y_i) is one
    complex number."""
    half = head_dim // 2
    order = torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).flatten()
    return weight.reshape(heads, head_dim, -1)[:, order].reshape(weight.shape)


def _folded(weight: torch.Tensor, norm: LlamaRMSNorm) -> torch.Tensor:
    """``weight`` with ``norm``'s weight (an RMSNorm right before the projection) folded into
    its input columns, since (x * w) @ W.T == x @ (W * w).T."""
    return weight * norm.weight.detach()


def _linear(module: torch.nn.Linear, onednn: bool, norm: LlamaRMSNorm | None = None) -> Linear:
    """A detached copy of ``module``, ``norm`` folded in when given (see :func:`_folded`)."""
    weight = module.weight.detach()
    if norm is not None:
        weight = _folded(weight, norm)
    bias = None if module.bias is None else module.bias.detach()
    return Linear(weight, bias, onednn)


class LlamaDecoder:
    """Folded, fused copies of a Llama-layout model's weights and the forward over them.

    Built per generation call (copying and prepacking a few MB: about 5 ms for the default
    model, against about a second to decode a batch), so it never serves stale weights of a
    model that is still training. ``onednn`` (default: where torch has it) picks the matmul backend.
    """

    def __init__(self, model: LlamaForCausalLM, onednn: bool | None = None) -> None:
        onednn = onednn_available() if onednn is None else onednn
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads or self.heads)
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.heads)
        self.hidden = int(config.hidden_size)
        self.eps = config.rms_norm_eps
        self._rotary = model.model.rotary_emb
        self.embedding = model.model.embed_tokens.weight.detach()
        self.lm_head = _linear(model.lm_head, onednn, norm=model.model.norm)
        self.layers = [self._layer(cast(LlamaDecoderLayer, layer), onednn)
                       for layer in model.model.layers]

    def _layer(self, layer: LlamaDecoderLayer, onednn: bool) -> _Layer:
        attn, mlp, mlp_norm = layer.self_attn, layer.mlp, layer.post_attention_layernorm
        qkv_bias = None if attn.q_proj.bias is None else self._fused_qkv(attn, "bias")
        qkv = _folded(self._fused_qkv(attn, "weight"), layer.input_layernorm)
        return _Layer(qkv=Linear(qkv, qkv_bias, onednn),
                      out=_linear(attn.o_proj, onednn),
                      gate=_linear(mlp.gate_proj, onednn, norm=mlp_norm),
                      up=_linear(mlp.up_proj, onednn, norm=mlp_norm),
                      down=_linear(mlp.down_proj, onednn))

    def _fused_qkv(self, attn: torch.nn.Module, part: str) -> torch.Tensor:
        """The q, k and v projections' ``part`` ("weight" or "bias") as one detached tensor:
        the q and k rows rotary-paired, q's scaled by the softmax scale (so that q @ k.T comes
        out scaled)."""
        q, k, v = (getattr(getattr(attn, f"{name}_proj"), part).detach() for name in "qkv")
        return torch.cat([_pair_rotary_rows(q * attn.scaling, self.heads, self.head_dim),
                          _pair_rotary_rows(k, self.kv_heads, self.head_dim), v])

    def rotations(self, length: int) -> torch.Tensor:
        """Complex rotary factors [length, head_dim / 2] for positions 0..length-1, from the
        model's own rotary module (so its rope type and scaling carry over)."""
        positions = torch.arange(length)[None]
        cos, sin = self._rotary(self.embedding[:1], position_ids=positions)
        half = self.head_dim // 2
        return torch.complex(cos[0, :, :half].float(), sin[0, :, :half].float())

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """RMSNorm without its weight (folded into the next projection)."""
        return F.rms_norm(x, (self.hidden,), None, self.eps)

    def forward(self, ids: torch.Tensor, rotation: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache, start: int) -> torch.Tensor:
        """Logits [B, vocab] of the last position for tokens ids [B, S] at cache columns
        start..start+S-1. ``rotation`` [B, S, 1, head_dim / 2] holds each token's rotary
        factor; ``mask`` [B, 1, S, start+S] is added to the attention scores (0 for a key
        the query sees, -inf for one it does not; None: it sees all of them)."""
        batch, length = ids.shape
        end = start + length
        heads, kv_heads, head_dim = self.heads, self.kv_heads, self.head_dim
        rotated_size = (heads + kv_heads) * head_dim
        x = F.embedding(ids, self.embedding).reshape(batch * length, self.hidden)
        for layer, keys, values in zip(self.layers, cache.keys, cache.values, strict=True):
            qkv = layer.qkv(self._normalize(x))
            # q and k rotate together: [B, S, heads + kv heads, head_dim / 2] complex pairs.
            pairs = torch.view_as_complex(
                qkv[:, :rotated_size].reshape(batch, length, heads + kv_heads, head_dim // 2, 2))
            qk = torch.view_as_real(pairs * rotation).reshape(batch, length, heads + kv_heads,
                                                              head_dim)
            keys[:, :, start:end] = qk[:, :, heads:].transpose(1, 2)
            values[:, :, start:end] = qkv[:, rotated_size:].reshape(
                batch, length, kv_heads, head_dim).transpose(1, 2)
            attended = self._attend(qk[:, :, :heads], keys[:, :, :end], values[:, :, :end],
                                    mask)
            x = layer.out.plus(attended, x)
            h = self._normalize(x)
            x = layer.down.plus(layer.up.times(h, layer.gate.silu(h)), x)
        last = x.reshape(batch, length, self.hidden)[:, -1]
        logits: torch.Tensor = self.lm_head(self._normalize(last))
        return logits

    def _attend(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None) -> torch.Tensor:
        """Attention output [B x S, heads x head_dim] of q [B, S, heads, head_dim] (scaled)
        over keys and values [B, kv heads, T, head_dim].

        The queries that share a KV head, every position's, form one [S x group, T] block:
        two batched matmuls read each row's keys and values once. At these sizes (a prompt
        of a few dozen tokens, or one token a step) this is about twice as fast as SDPA's
        fused kernel here."""
        batch, length, heads, head_dim = q.shape
        kv_heads = self.kv_heads
        group = heads // kv_heads
        grouped = q.reshape(batch, length, kv_heads, group, head_dim).transpose(1, 2)
        scores = torch.matmul(grouped.reshape(batch, kv_heads, length * group, head_dim),
                              keys.transpose(-1, -2))  # [B, kv heads, S x group, T]
        if mask is not None:
            scores.view(batch, kv_heads, length, group, -1).add_(mask[:, :, :, None])
        attended = torch.matmul(scores.softmax(-1), values)  # [B, kv heads, S x group, D]
        return attended.view(batch, kv_heads, length, group, head_dim).transpose(1, 2).reshape(
            batch * length, heads * head_dim)


@dataclass(slots=True)
class KVCache:
    """Per-layer key and value buffers [B, kv heads, columns, head_dim]."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @classmethod
    def empty(cls, decoder: LlamaDecoder, batch: int, columns: int) -> KVCache:
        shape = (batch, decoder.kv_heads, columns, decoder.head_dim)
        layers = len(decoder.layers)
        return cls([torch.empty(shape) for _ in range(layers)],
                   [torch.empty(shape) for _ in range(layers)])

    def keep(self, rows: torch.Tensor) -> None:
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
