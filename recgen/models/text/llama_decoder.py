"""A lean batched forward for Llama-layout checkpoints, used by the decode loop in place of the
model's own ``forward`` when the checkpoint fits the layout.

Why: on 2 CPU cores a decoding step of a small model is dominated by per-operator overhead and
memory traffic, not by its matmuls. ``transformers``' Llama forward runs separate q, k, v and
gate, up projections, a rotate-half rotary embedding of several operators, and per-step cache
and mask bookkeeping. Here q/k/v and gate/up are fused into one matmul each, the rotary
embedding is one complex multiply, and the KV cache is a preallocated buffer written a column
per step (``bench/text_bench.py`` measures both forwards on the default model).

Exactness: the same weights and the same math as the checkpoint's forward (tests compare the
logits). The rotary trick permutes the rows of the q and k projections of every head so that
the elements rotate-half pairs (i and i + head_dim / 2) sit next to each other; attention scores
are dot products of q and k, which a permutation applied to both leaves unchanged, and v is not
permuted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM, PreTrainedModel

# Rotary variants whose frequencies do not depend on the sequence length (a table computed
# once per batch is exact for them); "dynamic" and "longrope" rescale with the length.
_STATIC_ROPE = frozenset({"default", "linear", "llama3", "yarn"})


def supports(model: PreTrainedModel) -> TypeGuard[LlamaForCausalLM]:
    """Whether :class:`LlamaDecoder` reproduces this model's forward exactly."""
    config = model.config
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_type", "default")
    return (isinstance(model, LlamaForCausalLM) and config.hidden_act == "silu"
            and getattr(config, "pretraining_tp", 1) == 1 and rope in _STATIC_ROPE)


@dataclass(frozen=True, slots=True)
class _Layer:
    attention_norm: torch.Tensor
    qkv: torch.Tensor  # [(heads + 2 x kv heads) x head_dim, hidden]; q, k rows rotary-paired
    qkv_bias: torch.Tensor | None
    out: torch.Tensor
    out_bias: torch.Tensor | None
    mlp_norm: torch.Tensor
    gate_up: torch.Tensor  # [2 x intermediate, hidden]
    gate_up_bias: torch.Tensor | None
    down: torch.Tensor
    down_bias: torch.Tensor | None


def _pair_rotary_rows(weight: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """Reorder each head's output rows (of a weight or a bias) from [x0..x(d/2-1),
    y0..y(d/2-1)] (rotate-half layout) to [x0, y0, x1, y1, ...], so that (x_i, y_i) is one
    complex number."""
    half = head_dim // 2
    order = torch.stack([torch.arange(half), torch.arange(half) + half], dim=1).flatten()
    return weight.reshape(heads, head_dim, -1)[:, order].reshape(weight.shape)


def _bias(*linears: torch.nn.Linear) -> torch.Tensor | None:
    """The linears' biases as one detached tensor, or None when they have none."""
    if linears[0].bias is None:
        return None
    return torch.cat([linear.bias.detach() for linear in linears])


class LlamaDecoder:
    """Fused copies of a Llama-layout model's weights and the forward over them.

    Built per generation call (copying a few MB), so it never serves stale weights of a model
    that is still training.
    """

    def __init__(self, model: LlamaForCausalLM) -> None:
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(config.num_key_value_heads or self.heads)
        self.head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // self.heads)
        self.eps = config.rms_norm_eps
        self._rotary = model.model.rotary_emb
        self.embedding = model.model.embed_tokens.weight.detach()
        self.final_norm = model.model.norm.weight.detach()
        self.lm_head = model.lm_head.weight.detach()
        self.layers: list[_Layer] = []
        for layer in model.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(_Layer(
                attention_norm=layer.input_layernorm.weight.detach(),
                qkv=self._fused_qkv(attn, "weight"),
                qkv_bias=None if attn.q_proj.bias is None else self._fused_qkv(attn, "bias"),
                out=attn.o_proj.weight.detach(),
                out_bias=_bias(attn.o_proj),
                mlp_norm=layer.post_attention_layernorm.weight.detach(),
                gate_up=torch.cat([mlp.gate_proj.weight.detach(), mlp.up_proj.weight.detach()]),
                gate_up_bias=_bias(mlp.gate_proj, mlp.up_proj),
                down=mlp.down_proj.weight.detach(),
                down_bias=_bias(mlp.down_proj),
            ))

    def _fused_qkv(self, attn: torch.nn.Module, part: str) -> torch.Tensor:
        """The q, k and v projections' ``part`` ("weight" or "bias") as one detached tensor,
        the q and k rows rotary-paired."""
        q, k, v = (getattr(getattr(attn, f"{name}_proj"), part).detach() for name in "qkv")
        return torch.cat([_pair_rotary_rows(q, self.heads, self.head_dim),
                          _pair_rotary_rows(k, self.kv_heads, self.head_dim), v])

    def rotations(self, length: int) -> torch.Tensor:
        """Complex rotary factors [length, head_dim / 2] for positions 0..length-1, from the
        model's own rotary module (so its rope type and scaling carry over)."""
        positions = torch.arange(length)[None]
        cos, sin = self._rotary(self.embedding[:1], position_ids=positions)
        half = self.head_dim // 2
        return torch.complex(cos[0, :, :half].float(), sin[0, :, :half].float())

    def _rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, weight.shape, weight, self.eps)

    def _rotate(self, x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        """x [B, S, heads, head_dim] (paired layout) times rotation [B, S, 1, head_dim / 2]."""
        shape = x.shape
        pairs = torch.view_as_complex(x.reshape(*shape[:-1], -1, 2))
        return torch.view_as_real(pairs * rotation).reshape(shape)

    def forward(self, ids: torch.Tensor, rotation: torch.Tensor, mask: torch.Tensor | None,
                cache: KVCache, start: int) -> torch.Tensor:
        """Logits [B, vocab] of the last position for tokens ids [B, S] at cache columns
        start..start+S-1; ``mask`` [B, 1, S, start+S] says which keys each query sees
        (None: all of them)."""
        batch, length = ids.shape
        end = start + length
        x = F.embedding(ids, self.embedding)
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        for layer, keys, values in zip(self.layers, cache.keys, cache.values, strict=True):
            qkv = F.linear(self._rms_norm(x, layer.attention_norm), layer.qkv, layer.qkv_bias)
            q, k, v = torch.split(qkv, [q_size, kv_size, kv_size], dim=-1)
            q = self._rotate(q.reshape(batch, length, self.heads, self.head_dim), rotation)
            k = self._rotate(k.reshape(batch, length, self.kv_heads, self.head_dim), rotation)
            keys[:, :, start:end] = k.transpose(1, 2)
            values[:, :, start:end] = v.reshape(batch, length, self.kv_heads,
                                                self.head_dim).transpose(1, 2)
            attended = F.scaled_dot_product_attention(
                q.transpose(1, 2), keys[:, :, :end], values[:, :, :end], attn_mask=mask,
                enable_gqa=self.heads != self.kv_heads)
            x = x + F.linear(attended.transpose(1, 2).reshape(batch, length, q_size),
                             layer.out, layer.out_bias)
            gate, up = F.linear(self._rms_norm(x, layer.mlp_norm), layer.gate_up,
                                layer.gate_up_bias).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, layer.down, layer.down_bias)
        return F.linear(self._rms_norm(x[:, -1], self.final_norm), self.lm_head)


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
