from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from recgen.core.errors import ModelLoadError
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.generator import ImageGenerator


def test_generator_round_trip(tiny_generator: ImageGenerator, tmp_path: Path) -> None:
    version = tiny_generator.save_pretrained(tmp_path / "g")
    loaded = ImageGenerator.from_pretrained(tmp_path / "g")
    assert loaded.version == version and len(version) == 12
    assert loaded.vocab == tiny_generator.vocab
    z, a, c = torch.randn(2, 8), torch.tensor([0, 1]), torch.tensor([2, 0])
    # Stored in fp16: equal up to half-precision rounding of the weights.
    torch.testing.assert_close(loaded.sample(z, a, c), tiny_generator.sample(z, a, c),
                               atol=2e-2, rtol=0)


def test_version_changes_with_the_weights(tiny_generator: ImageGenerator, tmp_path: Path) -> None:
    first = tiny_generator.save_pretrained(tmp_path / "a")
    with torch.no_grad():
        tiny_generator.network.to_rgb.bias.add_(1.0)
    assert tiny_generator.save_pretrained(tmp_path / "b") != first


def test_classifier_round_trip(tiny_classifier: ImageClassifier, tmp_path: Path) -> None:
    tiny_classifier.save_pretrained(tmp_path / "c")
    loaded = ImageClassifier.from_pretrained(tmp_path / "c")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(loaded.features(x), tiny_classifier.features(x), atol=2e-2, rtol=0)


def test_missing_and_mismatched_artefacts_raise(tiny_generator: ImageGenerator,
                                                tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        ImageGenerator.from_pretrained(tmp_path / "nothing")
    tiny_generator.save_pretrained(tmp_path / "g")
    with pytest.raises(ModelLoadError, match="expected"):
        ImageClassifier.from_pretrained(tmp_path / "g")
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    config["network"]["channels"] = [32, 8, 8, 4]
    (tmp_path / "g" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="do not match"):
        ImageGenerator.from_pretrained(tmp_path / "g")


def test_truncation_scales_the_latents_and_is_saved_with_the_weights(
        tiny_generator: ImageGenerator, tmp_path: Path) -> None:
    full = tiny_generator.latents(3, torch.Generator().manual_seed(7))
    untruncated = tiny_generator.save_pretrained(tmp_path / "full")
    tiny_generator.truncation = 0.5
    torch.testing.assert_close(tiny_generator.latents(3, torch.Generator().manual_seed(7)),
                               full * 0.5)
    # Another sampling distribution is another model version (cache keys must not mix them).
    assert tiny_generator.save_pretrained(tmp_path / "half") != untruncated
    assert ImageGenerator.from_pretrained(tmp_path / "half").truncation == 0.5
    with pytest.raises(ValueError, match="truncation must be in"):
        ImageGenerator(tiny_generator.network, tiny_generator.vocab, truncation=0.0)
