from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from recgen.models.common.checkpoint import CheckpointMismatchError
from recgen.models.image.data import ConditionVocab
from recgen.models.image.networks import GeneratorConfig
from recgen.models.image.train_gan import GanTrainConfig, diff_augment, generator_ema, train_gan

TINY = GeneratorConfig(5, 3, z_dim=8, article_dim=4, colour_dim=4, channels=(16, 8, 8, 4))


def _data(n: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    photos = torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, generator=g)
    return photos, torch.arange(n) % 5, torch.arange(n) % 3


def test_diff_augment_keeps_shape_and_gradient() -> None:
    x = torch.rand(4, 3, 64, 64, requires_grad=True)
    out = diff_augment(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_training_writes_grids_and_resumes(tmp_path: Path, vocab: ConditionVocab) -> None:
    photos, art, col = _data()
    cfg = GanTrainConfig(seconds=1e-3, batch_size=4)
    gen, stats = train_gan(photos, art, col, vocab, work_dir=tmp_path, config=cfg,
                           generator_config=TINY)
    assert stats["steps"] == 1.0
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert list((tmp_path / "samples").glob("step*.png"))
    resumed_cfg = GanTrainConfig(seconds=stats["train_seconds"] + 1e-3, batch_size=4)
    _, resumed = train_gan(photos, art, col, vocab, work_dir=tmp_path, config=resumed_cfg,
                           generator_config=TINY)
    assert resumed["steps"] == 2.0  # continued from step 1, not restarted
    assert gen.sample(torch.randn(1, 8), art[:1], col[:1]).shape == (1, 3, 64, 64)


def test_resume_with_another_generator_config_names_the_field(
        tmp_path: Path, vocab: ConditionVocab) -> None:
    photos, art, col = _data()
    cfg = GanTrainConfig(seconds=1e-3, batch_size=4)
    train_gan(photos, art, col, vocab, work_dir=tmp_path, config=cfg, generator_config=TINY)
    wider = replace(TINY, channels=(32, 8, 8, 4))
    resumed = GanTrainConfig(seconds=1.0, batch_size=4)
    with pytest.raises(CheckpointMismatchError, match=r"generator\.channels: \[16, 8, 8, 4\]"):
        train_gan(photos, art, col, vocab, work_dir=tmp_path, config=resumed,
                  generator_config=wider)


def test_ema_warms_up_towards_its_decay() -> None:
    model = torch.nn.Linear(1, 1, bias=False)
    ema = generator_ema(model, decay=0.25)
    values = []
    for step in range(4):
        with torch.no_grad():
            model.weight.fill_(float(step + 1))
        ema.update_parameters(model)
        values.append(float(ema.module.weight))
    # The first update copies the model; the n-th after it decays by min(0.25, (1+n)/(10+n)):
    # 2/11 (warming up), then 0.25 (3/12, and capped from 4/13 on).
    expected = [1.0]
    for decay, target in ((2 / 11, 2.0), (0.25, 3.0), (0.25, 4.0)):
        expected.append(decay * expected[-1] + (1 - decay) * target)
    assert values == pytest.approx(expected)


DATA = Path(os.environ.get("RECGEN_DATA_DIR", Path(__file__).parents[5] / "shared" / "data"))


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "myntra" / "styles.csv").is_file(), reason="no shared data")
def test_a_few_steps_on_real_photos(tmp_path: Path) -> None:
    from recgen.catalog.styles import read_styles
    from recgen.core.types import ImageRequest
    from recgen.models.image.classifier import train_classifier
    from recgen.models.image.data import cached_photos
    from recgen.models.image.pipeline import ProductImageGenerator

    catalog = read_styles(DATA / "myntra" / "styles.csv", DATA / "myntra" / "images")
    products = [p for p in catalog.products if p.image_path is not None][:48]
    vocab = ConditionVocab.fit(products, min_count=5)
    photos = cached_photos(products, tmp_path / "cache")
    art, col = vocab.encode(products)
    cfg = GeneratorConfig(len(vocab.article_classes), len(vocab.colour_classes),
                          channels=(32, 16, 16, 8))
    gen, stats = train_gan(photos, art, col, vocab, work_dir=tmp_path / "gan",
                           config=GanTrainConfig(seconds=5, batch_size=8), generator_config=cfg)
    assert stats["steps"] >= 1
    # The templates are the article means: at the start the output is near them.
    assert gen.network.templates.abs().sum() > 0
    classifier, _ = train_classifier(photos, art, col, vocab, epochs=1, batch_size=8)
    out = ProductImageGenerator(gen, classifier).generate(
        [ImageRequest(products[0], seed=1), ImageRequest(products[1], seed=2)])
    assert [o.png[:4] for o in out] == [b"\x89PNG"] * 2


def test_classifier_training_continues_from_init(vocab: ConditionVocab) -> None:
    from recgen.models.image.classifier import (
        ClassifierConfig,
        ClassifierNet,
        ImageClassifier,
        train_classifier,
    )

    photos, art, col = _data(8)
    start = ImageClassifier(ClassifierNet(ClassifierConfig(5, 3, channels=(4, 4, 8))), vocab)
    before = start.network.article_head.weight.detach().clone()
    trained, stats = train_classifier(photos, art, col, vocab, epochs=1, batch_size=4, init=start)
    assert trained.network is start.network  # same (small) architecture, weights moved on
    assert not torch.equal(trained.network.article_head.weight, before)
    assert stats["epochs"] == 1.0
