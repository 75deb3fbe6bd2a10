"""Model directories: ``model.safetensors`` + ``config.json`` (+ README.md model card).

Weights are stored in fp16 (these small nets lose nothing measurable) and loaded back to fp32.
The version is a short hash of the stored bytes, so any change of weights or config changes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from recgen.core.errors import ModelLoadError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
WEIGHTS_DIGEST = "weights_sha256"
log = logging.getLogger(__name__)


def save_artefact(
    path: Path, state: dict[str, torch.Tensor], config: dict[str, Any], *, fp16: bool = True
) -> str:
    """Write weights + config into ``path``; return the content version."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.detach().to(torch.float16) if fp16 and v.is_floating_point() else v.detach())
        .contiguous()
        for k, v in state.items()
    }
    save_file(tensors, path / WEIGHTS)
    # safetensors checks its header, not the tensor bytes: a flipped byte in the weights
    # would load silently and generate garbage. The digest in the config catches it.
    config = {**config, WEIGHTS_DIGEST: _sha256(path / WEIGHTS)}
    (path / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return content_version(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def content_version(path: Path) -> str:
    digest = hashlib.sha256()
    for name in (WEIGHTS, CONFIG):
        digest.update((path / name).read_bytes())
    return digest.hexdigest()[:12]


def load_artefact(path: Path, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any], str]:
    """Read (fp32 state, config, version); raise ModelLoadError naming what is wrong."""
    path = Path(path)
    if not (path / WEIGHTS).is_file() or not (path / CONFIG).is_file():
        raise ModelLoadError(f"{kind} not found: {path} needs {WEIGHTS} and {CONFIG}")
    try:
        config = json.loads((path / CONFIG).read_text())
        state = {
            k: v.float() if v.is_floating_point() else v
            for k, v in load_file(path / WEIGHTS).items()
        }
    except (json.JSONDecodeError, SafetensorError, OSError) as exc:
        raise ModelLoadError(f"{kind} at {path} is unreadable: {exc}") from exc
    digest = config.get(WEIGHTS_DIGEST)
    if digest is None:
        log.warning("%s at %s has no weights checksum (saved before checksums); re-save it", kind,
                    path)
    elif _sha256(path / WEIGHTS) != digest:
        raise ModelLoadError(
            f"{kind} at {path}: {WEIGHTS} does not match its checksum in {CONFIG} (corrupt or "
            "replaced); restore the artefact"
        )
    if config.get("kind") != kind:
        raise ModelLoadError(f"{path} holds a {config.get('kind')!r}, expected {kind!r}")
    return state, config, content_version(path)


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    """load_state_dict that reports a weights/config mismatch as ModelLoadError."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"weights in {where} do not match their config: {exc}") from exc
