from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from recgen.core.errors import ModelLoadError
from recgen.models.common.checkpoint import (
    CheckpointMismatchError,
    has_checkpoint,
    load_checkpoint,
    optimizer_groups,
    save_checkpoint,
)
from recgen.models.image.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
)
from recgen.models.text.build import build_model, train_tokenizer
from tests.unit.models.text.conftest import TINY as TINY_TEXT


def _tiny_llama() -> nn.Module:
    tokenizer = train_tokenizer(["a small black shirt", "blue jeans for the weekend"] * 5,
                                TINY_TEXT.vocab_size)
    return build_model(TINY_TEXT, tokenizer)


@pytest.mark.parametrize("make", [
    _tiny_llama,
    lambda: Generator(GeneratorConfig(5, 3, z_dim=8, article_dim=4, colour_dim=4,
                                      channels=(16, 8, 8, 4))),
    lambda: Discriminator(DiscriminatorConfig(5, 3, channels=(4, 8, 8, 8))),
], ids=["llama", "generator", "discriminator"])
def test_weight_decay_spares_every_parameter_below_two_dims(make: Callable[[], nn.Module]) -> None:
    model = make()
    decay, no_decay = optimizer_groups(model, 0.1)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert all(p.ndim >= 2 for p in decay["params"])
    assert all(p.ndim < 2 for p in no_decay["params"]) and no_decay["params"]
    # Every trainable parameter exactly once (tied embeddings are one parameter).
    grouped = [id(p) for p in decay["params"] + no_decay["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters() if p.requires_grad)


def _trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    opt = torch.optim.AdamW(optimizer_groups(model, 0.01), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
    return model, opt


def test_checkpoint_round_trips_modules_optimizers_and_meta(tmp_path: Path) -> None:
    model, opt = _trained(0)
    assert not has_checkpoint(tmp_path)
    save_checkpoint(tmp_path, modules={"m": model}, optimizers={"o": opt},
                    config={"arch": {"hidden": 8, "widths": (4, 8)}}, meta={"step": 3})
    assert has_checkpoint(tmp_path)
    fresh, fresh_opt = _trained(1)
    meta = load_checkpoint(tmp_path, modules={"m": fresh}, optimizers={"o": fresh_opt},
                           config={"arch": {"hidden": 8, "widths": (4, 8)}})
    assert meta == {"step": 3}
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    saved, loaded = opt.state_dict(), fresh_opt.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for index, state in saved["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded["state"][index][key]))


def test_resume_with_another_architecture_names_the_field(tmp_path: Path) -> None:
    model, opt = _trained(0)
    save_checkpoint(tmp_path, modules={"m": model}, optimizers={"o": opt},
                    config={"arch": {"hidden": 8, "layers": 2}}, meta={"step": 3})
    with pytest.raises(CheckpointMismatchError, match=r"arch\.hidden: 8 in the checkpoint, 16"):
        load_checkpoint(tmp_path, modules={"m": model}, optimizers={"o": opt},
                        config={"arch": {"hidden": 16, "layers": 2}})


def test_unreadable_checkpoint_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    model, opt = _trained(0)
    with pytest.raises(ModelLoadError, match=r"checkpoint\.safetensors"):
        load_checkpoint(tmp_path, modules={"m": model}, optimizers={"o": opt}, config={})
