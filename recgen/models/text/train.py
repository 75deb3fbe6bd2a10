"""``recgen train text``: tokenizer + small Llama trained on the synthetic-but-grounded corpus.

Checkpoints (``recgen.models.common.checkpoint``: model, AdamW state, architecture and step;
nothing pickled; plus the tokenizer's JSON files) are written to ``<out>/checkpoint`` every
``checkpoint_every`` steps and resumed from automatically; a resume with another ``arch``
fails naming the field.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from recgen.catalog.styles import read_styles
from recgen.models.common.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    optimizer_groups,
    save_checkpoint,
)
from recgen.models.text.build import ArchConfig, build_model, train_tokenizer
from recgen.models.text.card import model_card
from recgen.models.text.corpus import mine_reviews, split_products, training_pairs
from recgen.models.text.model import TextModel, TextModelMeta

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    styles: Path
    reviews: Path
    out: Path
    steps: int = 900
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    tokenizer_samples: int = 20000
    validation_pairs: int = 256
    eval_every: int = 250
    checkpoint_every: int = 100
    arch: ArchConfig = field(default_factory=ArchConfig)
    # Where resumable checkpoints go; default <out>/checkpoint (kept out of git).
    checkpoint_dir: Path | None = None


def encode(tokenizer: object, pairs: Sequence[Pair]) -> dict[str, torch.Tensor]:
    """input_ids / attention_mask / labels [B, T]; loss only on the description and its EOS."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id  # type: ignore[attr-defined]
    rows = []
    for prompt, target in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        t = tokenizer(target, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        rows.append((p, [*t, eos]))
    length = max(len(p) + len(t) for p, t in rows)
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    labels = torch.full((len(rows), length), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, (p, t) in enumerate(rows):
        n = len(p) + len(t)
        ids[i, :n] = torch.tensor(p + t)
        labels[i, len(p) : n] = torch.tensor(t)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to a tenth of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def description_loss(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over description tokens; the LM head runs only where there is a label
    (skipping the prompt positions saves about a third of a training step)."""
    hidden = model.base_model(input_ids=batch["input_ids"],
                              attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]  # [B, T-1]: position t predicts token t+1
    keep = targets != -100
    head = model.get_output_embeddings()  # type: ignore[no-untyped-call]
    logits = head(hidden[:, :-1][keep])  # [N, V]
    return torch.nn.functional.cross_entropy(logits, targets[keep])


@torch.no_grad()
def validation_loss(model: PreTrainedModel, tokenizer: object, pairs: Sequence[Pair],
                    batch_size: int = 64) -> float:
    """Mean per-token cross-entropy on the description tokens of the validation pairs."""
    model.eval()  # type: ignore[no-untyped-call]
    total, count = 0.0, 0
    for start in range(0, len(pairs), batch_size):
        batch = encode(tokenizer, pairs[start : start + batch_size])
        tokens = int((batch["labels"][:, 1:] != -100).sum())
        total += float(description_loss(model, batch)) * tokens
        count += tokens
    model.train()
    return total / max(1, count)


def _save_checkpoint(ckpt: Path, model: PreTrainedModel, tokenizer: object,
                     opt: torch.optim.AdamW, cfg: TrainConfig, step: int) -> None:
    # The tokenizer first: a checkpoint file is only ever beside the tokenizer it was made with.
    tokenizer.save_pretrained(ckpt)  # type: ignore[attr-defined]
    save_checkpoint(ckpt, modules={"model": model}, optimizers={"opt": opt},
                    config=_architecture(cfg), meta={"step": step})


def _architecture(cfg: TrainConfig) -> dict[str, object]:
    return {"arch": cfg.arch.to_dict()}


def _batches(stream: Iterator[Pair], size: int) -> Iterator[list[Pair]]:
    while True:
        yield list(itertools.islice(stream, size))


def train(cfg: TrainConfig) -> TextModel:
    """Train (or resume) and write the final model, tokenizer and model card to ``cfg.out``."""
    started = time.monotonic()
    catalog = read_styles(cfg.styles)
    train_products = split_products(catalog.products, validation=False)
    val_products = split_products(catalog.products, validation=True)
    phrases, review_rows = mine_reviews(cfg.reviews)
    val_pairs = list(itertools.islice(training_pairs(val_products, phrases, seed=10_000),
                                      cfg.validation_pairs))
    ckpt = cfg.checkpoint_dir or cfg.out / "checkpoint"
    resuming = has_checkpoint(ckpt)
    if resuming:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(ckpt)
    else:
        sample = itertools.islice(training_pairs(train_products, phrases, seed=cfg.seed + 1),
                                  cfg.tokenizer_samples)
        tokenizer = train_tokenizer((f"{p} {t}" for p, t in sample), cfg.arch.vocab_size)
    torch.manual_seed(cfg.seed)
    model: PreTrainedModel = build_model(cfg.arch, tokenizer)
    opt = torch.optim.AdamW(optimizer_groups(model, cfg.weight_decay), lr=cfg.lr,
                            betas=(0.9, 0.95))
    start = int(load_checkpoint(ckpt, modules={"model": model}, optimizers={"opt": opt},
                                config=_architecture(cfg))["step"]) if resuming else 0
    # A resumed run continues on a fresh, deterministic stream for the remaining steps.
    batches = _batches(training_pairs(train_products, phrases, seed=cfg.seed + 7919 * start),
                       cfg.batch_size)
    model.train()
    history: list[dict[str, float]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train text")
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = description_loss(model, encode(tokenizer, next(batches)))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            val = validation_loss(model, tokenizer, val_pairs)
            history.append({"step": step + 1, "train_loss": loss.item(), "val_loss": val})
            tqdm.write(f"step {step + 1}: train loss {loss.item():.3f}, val loss {val:.3f}")
        if (step + 1) % cfg.checkpoint_every == 0:
            _save_checkpoint(ckpt, model, tokenizer, opt, cfg, step + 1)
    val = validation_loss(model, tokenizer, val_pairs)
    wall = time.monotonic() - started
    text_model = TextModel(model, tokenizer, TextModelMeta(name="recgen-text-llama",
                                                           store_fp16=True))
    metrics = {"validation_loss": val, "validation_perplexity": math.exp(val),
               "train_wall_seconds": wall, "steps_this_run": cfg.steps - start}
    data = {"styles": str(cfg.styles), "reviews": str(cfg.reviews),
            "train_products": len(train_products), "validation_products": len(val_products),
            "review_rows_mined": review_rows, "rejected_catalog_rows": len(catalog.rejected)}
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    text_model.save_pretrained(cfg.out, card=model_card(metrics, data, settings, history))
    print(f"trained text model: {cfg.steps} steps, val loss {val:.3f} "
          f"(ppl {math.exp(val):.2f}), {wall / 60:.1f} min -> {cfg.out} ({text_model.version})")
    return text_model
