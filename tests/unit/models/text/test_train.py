from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from recgen.core.config import get_settings
from recgen.models.text.model import TextModel
from recgen.models.text.train import TrainConfig, train
from tests.unit.models.text.conftest import TINY


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
    card = (cfg.out / "README.md").read_text()
    val_loss = json.loads(card.split("```json\n")[2].split("\n```")[0])["validation_loss"]
    assert val_loss < math.log(TINY.vocab_size) - 1.0  # well below a uniform guess
    assert TextModel.from_pretrained(cfg.out).version == model.version
    resumed = train(replace(cfg, steps=40))  # picks up the step-30 checkpoint
    state = json.loads((cfg.out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 30 and resumed.version != model.version
