from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from recgen.core.config import get_settings
from recgen.models.common.checkpoint import (
    CheckpointMismatchError,
    load_checkpoint,
    optimizer_groups,
)
from recgen.models.text.build import build_model
from recgen.models.text.model import TextModel
from recgen.models.text.train import TrainConfig, train
from tests.unit.models.text.conftest import TINY

KINDS = (("Apparel", "Topwear", "Tshirts", "Tshirt"), ("Apparel", "Topwear", "Shirts", "Shirt"),
         ("Apparel", "Bottomwear", "Jeans", "Jeans"),
         ("Footwear", "Shoes", "Casual Shoes", "Casual Shoes"))
STYLES_HEADER = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
                 "season", "usage", "productDisplayName", "colorgroup")
REVIEWS_HEADER = ("", "Clothing ID", "Age", "Title", "Review Text", "Rating", "Recommended IND",
                  "Positive Feedback Count", "Division Name", "Department Name", "Class Name")


def tiny_corpus(directory: Path, *, steps: int, **changes: object) -> TrainConfig:
    """A 200-product catalog and a few reviews on disk, and a tiny training config over them."""
    combos = itertools.product(KINDS, ("Black", "Blue", "White", "Red", "Grey"), ("Men", "Women"))
    with (directory / "styles.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(STYLES_HEADER)
        for i, ((master, sub, article, noun), colour, gender) in enumerate(
                itertools.islice(itertools.cycle(combos), 200)):
            writer.writerow([1000 + i, gender, master, sub, article, colour, "Summer", "Casual",
                             f"Roadster {gender} {colour} {noun}", colour])
    with (directory / "reviews.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEWS_HEADER)
        for i in range(20):
            writer.writerow([i, 1, 30 + i, "", "The fabric is soft and the fit is true to size.",
                             5, 1, 0, "General", "Tops", "Knits"])
    cfg = TrainConfig(styles=directory / "styles.csv", reviews=directory / "reviews.csv",
                      out=directory / "model", steps=steps, batch_size=4, lr=5e-3, warmup=1,
                      tokenizer_samples=100, validation_pairs=4, eval_every=steps,
                      checkpoint_every=2, arch=TINY)
    return replace(cfg, **changes)  # type: ignore[arg-type]


def _card_metrics(out: Path) -> dict[str, float]:
    metrics: dict[str, float] = json.loads(
        (out / "README.md").read_text().split("```json\n")[2].split("\n```")[0])
    return metrics


def test_a_tiny_run_resumes_from_its_checkpoint_and_continues(tmp_path: Path) -> None:
    cfg = tiny_corpus(tmp_path, steps=4)
    train(cfg)
    ckpt = cfg.out / "checkpoint"
    resumed = train(replace(cfg, steps=6))
    assert _card_metrics(cfg.out)["steps_this_run"] == 2  # steps 5 and 6 only
    # The checkpoint rebuilds the run: its step, and the optimizer with nanoGPT's split.
    model = build_model(TINY, PreTrainedTokenizerFast.from_pretrained(ckpt))
    opt = torch.optim.AdamW(optimizer_groups(model, 0.5), lr=1.0)
    meta = load_checkpoint(ckpt, modules={"model": model}, optimizers={"opt": opt},
                           config={"arch": TINY.to_dict()})
    assert meta["step"] == 6
    assert [g["weight_decay"] for g in opt.param_groups] == [cfg.weight_decay, 0.0]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, resumed.model.state_dict()[name])


def test_resume_with_another_architecture_names_the_field(tmp_path: Path) -> None:
    cfg = tiny_corpus(tmp_path, steps=2)
    train(cfg)
    with pytest.raises(CheckpointMismatchError, match=r"arch\.hidden_size: 32 in the checkpoint"):
        train(replace(cfg, steps=4, arch=replace(TINY, hidden_size=48)))


@pytest.mark.slow
def test_training_lowers_the_loss_and_resumes(tmp_path: Path) -> None:
    data = get_settings().data_dir
    styles = data / "myntra" / "styles.csv"
    reviews = data / "reviews" / "womens_clothing_reviews.csv"
    if not styles.is_file() or not reviews.is_file():
        pytest.skip(f"shared data not found under {data}")
    cfg = TrainConfig(styles=styles, reviews=reviews, out=tmp_path / "model", steps=30,
                      batch_size=8, lr=5e-3, warmup=5, tokenizer_samples=300, validation_pairs=16,
                      eval_every=30, checkpoint_every=15, arch=TINY)
    model = train(cfg)
    val_loss = _card_metrics(cfg.out)["validation_loss"]
    assert val_loss < math.log(TINY.vocab_size) - 1.0  # well below a uniform guess
    assert TextModel.from_pretrained(cfg.out).version == model.version
    resumed = train(replace(cfg, steps=40))  # picks up the step-30 checkpoint
    assert _card_metrics(cfg.out)["steps_this_run"] == 10 and resumed.version != model.version
