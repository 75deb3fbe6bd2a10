"""Tiny random text models (seconds to build) shared by the text-engine unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recgen.core.types import PersonaControls, Product, TextRequest
from recgen.models.text.build import ArchConfig, build_model, train_tokenizer
from recgen.models.text.model import TextModel, TextModelMeta
from recgen.models.text.sampling import SamplingSettings

TINY = ArchConfig(vocab_size=400, hidden_size=32, layers=2, heads=2, intermediate_size=64,
                  max_positions=192)
SHIRT = Product(product_id=15970, gender="Men", master_category="Apparel",
                sub_category="Topwear", article_type="Shirts", base_colour="Navy Blue",
                colour_group="Blue", season="Fall", usage="Casual",
                title="Turtle Check Men Navy Blue Shirt")
HEELS = Product(product_id=7, gender="Women", master_category="Footwear", sub_category="Shoes",
                article_type="Heels", base_colour="Black", colour_group="Black", season="Summer",
                usage="Party", title="Catwalk Women Black Heels")
_TEXTS = [
    "Men | Shirts | Navy Blue | Casual This navy blue shirt is cut for a clean fit.",
    "Women | Heels | Black | Party A pair of black heels that is easy to wear all day.",
    "The fabric is soft and comfortable. Ready for the office and the weekend.",
]


def tiny_model(seed: int = 0) -> TextModel:
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(_TEXTS * 5, TINY.vocab_size)
    model = build_model(TINY, tokenizer)
    # Random init gives near-uniform logits; scaling makes greedy and sampled paths differ.
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(20)
    meta = TextModelMeta(name="tiny", sampling=SamplingSettings(max_new_tokens=12, batch_size=4))
    return TextModel(model, tokenizer, meta)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-text")
    tiny_model().save_pretrained(path, card="# tiny test model\n")
    return path


@pytest.fixture()
def tiny(tiny_dir: Path) -> TextModel:
    return TextModel.from_pretrained(tiny_dir)


def requests(n: int = 6) -> list[TextRequest]:
    aspects = ("fit", "fabric", "comfort", "occasion", "value", None)
    return [TextRequest(product=(SHIRT, HEELS)[i % 2],
                        controls=PersonaControls(aspect=aspects[i % 6], usage="Sports"),
                        seed=100 + i) for i in range(n)]
