"""Resumable training checkpoints for every trainer, and the optimizer's weight-decay split.

A checkpoint is one ``checkpoint.safetensors`` file in the trainer's checkpoint directory:
the modules' state dicts as ``<module>/<key>`` tensors, the optimizers' per-parameter state
({param index: {"step", "exp_avg", ...}}) flattened to ``<optimizer>/<index>/<key>`` tensors,
and, as JSON in the file's metadata, the architecture config the run was built with, the
optimizers' param groups and the trainer's own facts (step, elapsed time). Nothing is
pickled, and one file is replaced atomically, so a killed run never leaves weights of one step
beside the facts of another.

On resume the saved architecture is compared with the run's before any state is loaded: a
different config fails naming each differing field instead of with a size-mismatch traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from recgen.core.errors import ModelLoadError

CHECKPOINT = "checkpoint.safetensors"
_METADATA_KEY = "recgen_checkpoint"


class CheckpointMismatchError(ModelLoadError):
    """The checkpoint was written for another architecture than the one being resumed."""


def optimizer_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Param groups with nanoGPT's split: matrices and embeddings (ndim >= 2) are decayed;
    norms, gains and biases (ndim < 2) are not, since pulling them towards 0 only fights the
    scale and offset the layer needs and regularises nothing."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def has_checkpoint(directory: Path) -> bool:
    return (directory / CHECKPOINT).is_file()


def save_checkpoint(
    directory: Path,
    *,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    config: Mapping[str, Any],
    meta: Mapping[str, Any],
) -> None:
    """Write one checkpoint of these states; ``config`` is the architecture (JSON-able)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            # A copy: tied weights share storage, which safetensors refuses to write.
            tensors[f"{name}/{key}"] = value.detach().clone().contiguous()
    groups: dict[str, Any] = {}
    for name, opt in optimizers.items():
        state = opt.state_dict()
        groups[name] = state["param_groups"]
        for index, entry in state["state"].items():
            for key, value in entry.items():
                tensors[f"{name}/{index}/{key}"] = torch.as_tensor(value).clone().contiguous()
    info = {"config": config, "meta": meta, "groups": groups}
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{CHECKPOINT}.tmp"
    save_file(tensors, tmp, metadata={_METADATA_KEY: json.dumps(info)})
    tmp.replace(directory / CHECKPOINT)


def load_checkpoint(
    directory: Path,
    *,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """Restore the states in place after checking ``config``; return the saved meta."""
    path = directory / CHECKPOINT
    tensors, info = _read(path)
    _check_architecture(path, info.get("config"), config)
    try:
        for name, module in modules.items():
            module.load_state_dict(_under(tensors, name))
        for name, opt in optimizers.items():
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key, value in _under(tensors, name).items():
                index, field = key.split("/")
                state.setdefault(int(index), {})[field] = value
            opt.load_state_dict({"state": state,
                                 "param_groups": _as_current(info["groups"][name], opt)})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"checkpoint {path} does not fit this run: {exc}") from exc
    meta: dict[str, Any] = info["meta"]
    return meta


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(_METADATA_KEY)
            # keys(): a safe_open handle is not iterable itself.
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(f"checkpoint {path} is unreadable: {exc}") from exc
    if raw is None:
        raise ModelLoadError(f"checkpoint {path} records no architecture or step; delete it "
                             "to train afresh")
    try:
        info: dict[str, Any] = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"checkpoint {path} has unreadable metadata: {exc}") from exc
    return tensors, info


def _as_current(groups: list[dict[str, Any]], opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The saved groups with the tuples (betas) that JSON turned into lists made tuples again."""
    return [{key: tuple(value) if isinstance(current.get(key), tuple) else value
             for key, value in group.items()}
            for group, current in zip(groups, opt.param_groups, strict=False)]


def _under(tensors: Mapping[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = f"{name}/"
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _check_architecture(path: Path, saved: Any, expected: Mapping[str, Any]) -> None:
    # Through JSON, so the run's tuples compare equal to the lists they were saved as.
    wanted = json.loads(json.dumps(expected))
    differences = list(_differences(saved, wanted, ""))
    if differences:
        raise CheckpointMismatchError(
            f"checkpoint {path} was written for another architecture: "
            + "; ".join(f"{field}: {old} in the checkpoint, {new} in this run"
                        for field, old, new in differences)
            + f"; resume with the same config, or delete {path} to train afresh"
        )


def _differences(saved: Any, wanted: Any, field: str) -> list[tuple[str, Any, Any]]:
    """(dotted field, saved value, wanted value) for every leaf that differs."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [
            diff
            for key in sorted(saved.keys() | wanted.keys())
            for diff in _differences(saved.get(key, "absent"), wanted.get(key, "absent"),
                                     f"{field}.{key}" if field else key)
        ]
    return [] if saved == wanted else [(field or "config", saved, wanted)]
