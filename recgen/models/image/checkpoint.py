"""Resumable training checkpoints: module and Adam states flattened into one safetensors file.

Adam's state dict is nested ({param index: {"step", "exp_avg", "exp_avg_sq"}}); it is stored
as ``<prefix>.<index>.<key>`` tensors plus the JSON-able param_groups, so no pickle is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from recgen.core.errors import ModelLoadError


def save_checkpoint(
    path: Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
) -> None:
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, Any] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}/{key}"] = value.detach().contiguous()
    for name, opt in optimizers.items():
        state = opt.state_dict()
        groups[name] = state["param_groups"]
        for index, entry in state["state"].items():
            for key, value in entry.items():
                tensors[f"{name}/{index}/{key}"] = torch.as_tensor(value).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, tmp)
    tmp.replace(path)  # atomic: a killed run never leaves a half-written checkpoint
    path.with_suffix(".json").write_text(json.dumps({"meta": meta, "groups": groups}))


def load_checkpoint(
    path: Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> dict[str, Any]:
    """Restore states in place; return the saved meta (step, elapsed seconds, ...)."""
    try:
        tensors = load_file(path)
        info = json.loads(path.with_suffix(".json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"checkpoint {path} is unreadable: {exc}") from exc
    for name, module in modules.items():
        prefix = f"{name}/"
        module.load_state_dict(
            {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        )
    for name, opt in optimizers.items():
        state: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"{name}/"
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix):].split("/")
                state.setdefault(int(index), {})[field] = value
        opt.load_state_dict({"state": state, "param_groups": info["groups"][name]})
    meta: dict[str, Any] = info["meta"]
    return meta
