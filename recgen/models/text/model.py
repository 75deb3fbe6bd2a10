"""TextModel: any local Hugging Face causal LM + its tokenizer behind recgen's interface.

The trained default and a bigger pretrained checkpoint a user has on disk load the same way:
``TextModel.from_pretrained(path)`` reads ``config.json`` + ``*.safetensors`` + the tokenizer
files; recgen's own settings (``recgen_text.json``: name, sampling defaults) are optional.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from recgen.core.errors import ModelLoadError
from recgen.core.types import TextRequest
from recgen.models.text.prompts import compose, render_prompt
from recgen.models.text.sampling import SamplingSettings, generate_ids

META_FILE = "recgen_text.json"
_HASHED_SUFFIXES = (".safetensors", ".json")


@dataclass(frozen=True, slots=True)
class TextModelMeta:
    name: str = "hf-causal-lm"
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    # Half-precision on disk keeps the shipped weights small; compute is always fp32 on CPU.
    store_fp16: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextModelMeta:
        sampling = SamplingSettings(**data.get("sampling", {}))
        return cls(name=str(data.get("name", "hf-causal-lm")), sampling=sampling,
                   store_fp16=bool(data.get("store_fp16", False)))


def content_hash(path: Path) -> str:
    """A short hash of the weights, configs and tokenizer: a new model gives new cache keys."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.suffix in _HASHED_SUFFIXES):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


class TextModel:
    """A causal LM that writes product descriptions for (product, persona) requests."""

    def __init__(self, model: PreTrainedModel, tokenizer: Any, meta: TextModelMeta,
                 version: str = "unsaved") -> None:
        self.model = model.eval()  # type: ignore[no-untyped-call]
        self.tokenizer = tokenizer
        self.meta = meta
        self.version = version
        if tokenizer.pad_token_id is None:  # many pretrained LMs ship without a pad token
            tokenizer.pad_token = tokenizer.eos_token

    @property
    def name(self) -> str:
        return self.meta.name

    @classmethod
    def from_pretrained(cls, path: str | Path) -> TextModel:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"no text model at {path} (config.json missing)")
        if not any(path.glob("*.safetensors")):
            raise ModelLoadError(f"text model at {path} has no safetensors weights")
        try:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                         use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load text model from {path}: {exc}") from exc
        meta_path = path / META_FILE
        meta = (TextModelMeta.from_json(json.loads(meta_path.read_text()))
                if meta_path.is_file() else TextModelMeta(name=path.name))
        return cls(model, tokenizer, meta, version=content_hash(path))

    def save_pretrained(self, path: str | Path, *, card: str | None = None) -> None:
        """Write safetensors + config + tokenizer + recgen settings (+ model card)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        dtype = torch.float16 if self.meta.store_fp16 else torch.float32
        state = {k: v.to(dtype) for k, v in self.model.state_dict().items()}
        self.model.save_pretrained(path, state_dict=state, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        (path / META_FILE).write_text(json.dumps(self.meta.to_json(), indent=2) + "\n")
        if card is not None:
            (path / "README.md").write_text(card)
        self.version = content_hash(path)

    def special_ids(self) -> list[int]:
        """Ids the model must never emit: pad, control codes, markers (EOS is let through)."""
        special = set(self.tokenizer.all_special_ids)
        special.update(i for i, tok in self.tokenizer.added_tokens_decoder.items() if tok.special)
        special.discard(self.tokenizer.eos_token_id)
        return sorted(special)

    def prompts(self, requests: Sequence[TextRequest]) -> list[list[int]]:
        texts = [render_prompt(r.product, r.controls) for r in requests]
        ids: list[list[int]] = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return ids

    def generate(self, requests: Sequence[TextRequest], *, sample: bool = True,
                 settings: SamplingSettings | None = None) -> list[str]:
        """One description per request, in order; each request's seed fixes its sample."""
        if not requests:
            return []
        settings = settings or self.meta.sampling
        if not sample:
            settings = replace(settings, greedy=True)
        outputs = generate_ids(
            self.model, self.prompts(requests), [r.seed for r in requests],
            eos_id=int(self.tokenizer.eos_token_id), pad_id=int(self.tokenizer.pad_token_id),
            settings=settings, banned=self.special_ids(),
        )
        return [
            compose(r.product, self.tokenizer.decode(ids, skip_special_tokens=True))
            for r, ids in zip(requests, outputs, strict=True)
        ]
