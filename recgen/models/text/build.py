"""Building the default model from scratch: a byte-level BPE tokenizer and a small Llama."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from recgen.models.text.prompts import EOS_TOKEN, PAD_TOKEN, special_tokens


@dataclass(frozen=True, slots=True)
class ArchConfig:
    """Size of the default decoder; small enough to train on 2 CPU cores in under 45 min."""

    vocab_size: int = 4096
    hidden_size: int = 192
    layers: int = 4
    heads: int = 4
    # One key/value head shared by the query heads (multi-query attention): a batched decoding
    # step reads the whole KV cache, and with a KV head per query head that read (about 39 MB
    # at batch 128) outgrows the L3 cache and is a quarter of the step. Sharing one made
    # batched decoding about 1.3x faster in the worker layout at the same validation loss.
    kv_heads: int = 1
    intermediate_size: int = 512
    max_positions: int = 256

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE over the corpus; control codes and markers are single special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer, pad_token=PAD_TOKEN, eos_token=EOS_TOKEN,
        padding_side="left",
    )


def build_model(arch: ArchConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A randomly initialised Llama-style decoder sized by ``arch`` (tied input/output)."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads,
        intermediate_size=arch.intermediate_size,
        max_position_embeddings=arch.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    return LlamaForCausalLM(config)
