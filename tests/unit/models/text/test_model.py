from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from recgen.core.config import WEIGHTS_DIR
from recgen.core.errors import ModelLoadError
from recgen.models.text import DescriptionGenerator, TextModel, sampling
from recgen.models.text.gate import check_description
from recgen.models.text.llama_decoder import LlamaDecoder
from recgen.models.text.sampling import SamplingSettings, decode_batch, generate_ids
from tests.unit.models.text.conftest import SHIRT, requests, tiny_model


def test_round_trip_keeps_weights_and_version(tiny: TextModel, tiny_dir: Path,
                                              tmp_path: Path) -> None:
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md",
            "recgen_text.json"} <= {p.name for p in tiny_dir.iterdir()}
    assert not list(tiny_dir.glob("*.bin"))
    tiny.save_pretrained(tmp_path)
    again = TextModel.from_pretrained(tmp_path)
    assert again.version == tiny.version and again.name == "tiny"
    for (name, a), b in zip(tiny.model.state_dict().items(), again.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_version_changes_with_weights(tiny_dir: Path, tmp_path: Path) -> None:
    other = tiny_model(seed=1)
    other.save_pretrained(tmp_path)
    assert other.version != TextModel.from_pretrained(tiny_dir).version


def test_missing_or_pickled_model_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        TextModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelLoadError, match="safetensors"):
        TextModel.from_pretrained(tmp_path)


def test_greedy_batched_matches_transformers_generate(tiny: TextModel) -> None:
    reqs = requests(5)
    prompts = tiny.prompts(reqs)
    assert len({len(p) for p in prompts}) > 1  # left padding is exercised
    settings = replace(tiny.meta.sampling, greedy=True)
    ours = generate_ids(tiny.model, prompts, [r.seed for r in reqs],
                        eos_id=tiny.tokenizer.eos_token_id, pad_id=tiny.tokenizer.pad_token_id,
                        settings=settings, banned=tiny.special_ids())
    for prompt, got in zip(prompts, ours, strict=True):
        ref = tiny.model.generate(torch.tensor([prompt]), do_sample=False,
                                  max_new_tokens=settings.max_new_tokens,
                                  pad_token_id=tiny.tokenizer.pad_token_id,
                                  suppress_tokens=tiny.special_ids())[0, len(prompt):]
        ref_list = ref.tolist()
        eos = tiny.tokenizer.eos_token_id
        assert got == (ref_list[: ref_list.index(eos)] if eos in ref_list else ref_list)


@pytest.mark.parametrize("lean", [True, False], ids=["lean forward", "checkpoint forward"])
def test_rows_that_finish_early_leave_the_batch_without_changing_any_output(
        monkeypatch: pytest.MonkeyPatch, lean: bool) -> None:
    # The shipped model: its descriptions end at different lengths, and unlike a random tiny
    # model its next token depends on the whole cached context, so a cache row mixed up in
    # compaction shows in the text.
    model = TextModel.from_pretrained(WEIGHTS_DIR / "text")
    reqs = [replace(r, seed=r.seed + i) for i, r in enumerate(requests(6) * 4)]
    prompts = model.prompts(reqs)
    decoder = LlamaDecoder(model.model) if lean else None

    def decode() -> list[list[int]]:
        return decode_batch(model.model, prompts, [r.seed for r in reqs],
                            eos_id=model.tokenizer.eos_token_id,
                            pad_id=model.tokenizer.pad_token_id, settings=model.meta.sampling,
                            banned=model.special_ids(), decoder=decoder)

    monkeypatch.setattr(sampling, "_COMPACT_SHARE", float("inf"))
    whole_batch = decode()
    assert len({len(row) for row in whole_batch}) > 3  # rows end at different steps
    compactions: list[int] = []
    batch_type: Any = sampling._LlamaBatch if lean else sampling._TransformersBatch
    real_keep = batch_type.keep

    def spy(self: Any, rows: torch.Tensor) -> bool:
        compactions.append(int(rows.numel()))
        return bool(real_keep(self, rows))

    monkeypatch.setattr(sampling, "_COMPACT_SHARE", 0.25)
    monkeypatch.setattr(batch_type, "keep", spy)
    assert decode() == whole_batch
    assert compactions and compactions[-1] < len(reqs)  # the batch did shrink


def test_sampled_request_is_reproducible_whatever_the_batch(tiny: TextModel) -> None:
    reqs = requests(6)
    together = tiny.generate(reqs)
    alone = [tiny.generate([r])[0] for r in reqs]
    reordered = tiny.generate(reqs[::-1])[::-1]
    assert together == alone == reordered
    reseeded = tiny.generate([replace(r, seed=r.seed + 1000) for r in reqs])
    assert reseeded != together
    assert all(t.startswith(SHIRT.title) for t in together[::2])  # headline = clean title


def test_sampling_differs_from_greedy(tiny: TextModel) -> None:
    reqs = requests(4)
    assert tiny.generate(reqs, sample=False) != tiny.generate(reqs, sample=True)


def test_foreign_hf_checkpoint_plugs_in_by_path(tiny: TextModel, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tiny.tokenizer), n_embd=32, n_layer=1, n_head=2,
                        n_positions=256)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    foreign = TextModel.from_pretrained(tmp_path)
    texts = foreign.generate(requests(3), settings=SamplingSettings(max_new_tokens=6))
    assert len(texts) == 3 and foreign.name == tmp_path.name
    assert len(foreign.version) == 12


def test_description_generator_gates_every_text(tiny: TextModel) -> None:
    reqs = requests(4)
    out = DescriptionGenerator(tiny).generate(reqs)
    assert [g.seed for g in out] == [r.seed for r in reqs]
    for g, r in zip(out, reqs, strict=True):
        assert g.gate == check_description(g.text, r.product)
        assert g.model_version == tiny.version
