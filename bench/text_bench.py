"""Text generation benchmark: naive per-request ``generate`` vs recgen's batched path.

Same model, same sampling settings (temperature, top-k, top-p, max new tokens), same run;
every path runs ``--rounds`` times interleaved and its fastest run counts (see ``measure``).
Writes descriptions/s for both, their ratio (``text_batched_speedup``), the achieved FLOP/s of
each as a fraction of the fp32 matmul rate measured in this run (``text_roofline_fraction``),
plus settings, machine and git commit. The batched path also runs on the checkpoint's own
forward (``lean_forward_speedup``: what the lean Llama forward adds). The headline figures
run every path in this process (torch threads from settings); ``worker_layout`` repeats them
in ``--processes`` one-thread processes, the layout of the production workers.

    PYTHONPATH=. python bench/text_bench.py --out var/bench/text.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench.common import git_commit, matmul_flops_per_s
from recgen.catalog.styles import read_styles
from recgen.core.config import get_settings
from recgen.core.types import TextRequest
from recgen.models.text.corpus import split_products
from recgen.models.text.eval import PERSONAS
from recgen.models.text.model import TextModel
from recgen.models.text.sampling import generate_ids


def useful_flops(model: torch.nn.Module, prompts: list[list[int]],
                 outputs: list[list[int]]) -> float:
    """Forward FLOPs of the real tokens only (prompt + generated up to EOS; padding not
    counted). A token at context length c costs 2 x every weight matmul (the tied embedding
    counted once, as the LM head) + 4 x layers x hidden x c for attention scores and values;
    the LM head runs on the last prompt position only (both paths skip it for the rest)."""
    cfg = model.config
    weights = 2.0 * sum(p.numel() for n, p in model.named_parameters() if "norm" not in n)
    attention = 4.0 * cfg.num_hidden_layers * cfg.hidden_size
    head = 2.0 * cfg.vocab_size * cfg.hidden_size
    total = 0.0
    for prompt, out in zip(prompts, outputs, strict=True):
        tokens = len(prompt) + len(out)
        # Context lengths 1..tokens sum to tokens x (tokens + 1) / 2.
        total += weights * tokens + attention * tokens * (tokens + 1) / 2
        total -= head * (len(prompt) - 1)
    return total


def run_naive(model: TextModel, prompts: list[list[int]], seeds: list[int]) -> tuple[float,
                                                                                    list[list[int]]]:
    """One request per ``transformers`` generate call, as a first integration would do it."""
    s = model.meta.sampling
    outputs = []
    # Same constraint as the batched path: never emit control codes or padding.
    suppressed = model.special_ids()
    start = time.perf_counter()
    for prompt, seed in tqdm(list(zip(prompts, seeds, strict=True)), desc="naive"):
        torch.manual_seed(seed)
        ids = model.model.generate(
            torch.tensor([prompt]), do_sample=True, temperature=s.temperature, top_k=s.top_k,
            top_p=s.top_p, max_new_tokens=s.max_new_tokens,
            pad_token_id=model.tokenizer.pad_token_id, eos_token_id=model.tokenizer.eos_token_id,
            suppress_tokens=suppressed)
        new = ids[0, len(prompt):].tolist()
        eos = model.tokenizer.eos_token_id
        outputs.append(new[: new.index(eos)] if eos in new else new)
    return time.perf_counter() - start, outputs


def run_batched(model: TextModel, prompts: list[list[int]], seeds: list[int],
                lean_forward: bool = True) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    outputs = generate_ids(model.model, prompts, seeds, eos_id=model.tokenizer.eos_token_id,
                           pad_id=model.tokenizer.pad_token_id, settings=model.meta.sampling,
                           banned=model.special_ids(), lean_forward=lean_forward)
    return time.perf_counter() - start, outputs


Run = Callable[[TextModel, list[list[int]], list[int]], tuple[float, list[list[int]]]]


def in_processes(run: Run, model: TextModel, prompts: list[list[int]], seeds: list[int],
                 processes: int) -> tuple[float, list[list[int]]]:
    """``run`` over the prompts dealt round-robin to ``processes`` forked processes of one
    torch thread each, as the production workers run (``recgen worker --concurrency 2`` with
    ``RECGEN_TORCH_THREADS=1`` in docker-compose.yml): wall seconds from a common start to
    the last finish, and the outputs in prompt order."""
    context = mp.get_context("fork")  # the children share the loaded model, no pickling
    barrier, results = context.Barrier(processes + 1), context.Queue()
    shares = [list(range(i, len(prompts), processes)) for i in range(processes)]

    def child(share: list[int]) -> None:
        torch.set_num_threads(1)
        barrier.wait()
        _, outputs = run(model, [prompts[i] for i in share], [seeds[i] for i in share])
        results.put((share, time.perf_counter(), outputs))

    children = [context.Process(target=child, args=(share,)) for share in shares]
    for process in children:
        process.start()
    barrier.wait()
    start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    collected = [results.get() for _ in children]
    for process in children:
        process.join()
    outputs: list[list[int]] = [[] for _ in prompts]
    for share, _, share_outputs in collected:
        for index, ids in zip(share, share_outputs, strict=True):
            outputs[index] = ids
    return max(end for _, end, _ in collected) - start, outputs


def measure(model: TextModel, prompts: list[list[int]], seeds: list[int], naive: int,
            processes: int, rounds: int) -> dict[str, float]:
    """Naive and batched rates, their ratio and FLOP fractions, and the batched path on the
    checkpoint's own forward instead of the lean one; ``processes`` > 1 runs every path in
    that many one-thread processes.

    This machine is shared and its speed drifts within seconds, so the paths run ``rounds``
    times, interleaved, with a short fp32 matmul probe (torch's thread count from settings)
    before each run and after the last: the fastest run of each path and the fastest probe are
    kept, so a slow moment neither flatters the FLOP fraction (a slow probe) nor one side of
    a ratio."""
    paths: tuple[tuple[str, Run, int], ...] = (
        ("naive", run_naive, naive), ("batched", run_batched, len(prompts)),
        ("batched_checkpoint_forward", partial(run_batched, lean_forward=False), len(prompts)))
    fastest: dict[str, tuple[float, list[list[int]]]] = {}
    probes = []
    for _ in range(rounds):
        for name, run, count in paths:
            probes.append(matmul_flops_per_s(0.5))
            ps, ss = prompts[:count], seeds[:count]
            seconds, outputs = (run(model, ps, ss) if processes == 1
                                else in_processes(run, model, ps, ss, processes))
            if name not in fastest or seconds < fastest[name][0]:
                fastest[name] = (seconds, outputs)
    probes.append(matmul_flops_per_s(0.5))
    peak_gflops = max(probes) / 1e9
    figures: dict[str, float] = {"fp32_matmul_gflops": peak_gflops}
    for name, _, count in paths:
        seconds, outputs = fastest[name]
        gflops = useful_flops(model.model, prompts[:count], outputs) / seconds / 1e9
        figures |= {f"{name}_descriptions_per_s": count / seconds, f"{name}_gflops": gflops,
                    f"{name}_roofline_fraction": gflops / peak_gflops,
                    f"mean_new_tokens_{name}": sum(map(len, outputs)) / len(outputs)}
    figures["batched_speedup"] = (figures["batched_descriptions_per_s"]
                                  / figures["naive_descriptions_per_s"])
    figures["lean_forward_speedup"] = (figures["batched_descriptions_per_s"]
                                       / figures["batched_checkpoint_forward_descriptions_per_s"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--naive", type=int, default=48, help="requests for the naive path")
    parser.add_argument("--batched", type=int, default=1024, help="requests, batched path")
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved runs of every path; the fastest of each is kept")
    parser.add_argument("--processes", type=int, default=2,
                        help="also measure both paths in this many one-thread processes "
                             "(the production worker layout; 1 = skip)")
    args = parser.parse_args()
    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    model = TextModel.from_pretrained(args.model or settings.text_model_path)
    products = split_products(read_styles(settings.data_dir / "myntra" / "styles.csv").products,
                              validation=True)
    requests = [TextRequest(product=products[i // len(PERSONAS)],
                            controls=PERSONAS[i % len(PERSONAS)], seed=i)
                for i in range(args.batched)]
    prompts, seeds = model.prompts(requests), [r.seed for r in requests]
    load_before = os.getloadavg()  # the machine is shared: a busy one reads low
    one = measure(model, prompts, seeds, args.naive, processes=1, rounds=args.rounds)
    report: dict[str, Any] = {
        "text_batched_speedup": one["batched_speedup"],
        "text_roofline_fraction": one["batched_roofline_fraction"],
        **{k: v for k, v in one.items() if k != "batched_speedup"},
    }
    if args.processes > 1:
        report["worker_layout"] = {"processes": args.processes, "torch_threads_each": 1,
                                   **measure(model, prompts, seeds, args.naive,
                                             processes=args.processes, rounds=args.rounds)}
    report |= {
        "settings": {"sampling": asdict(model.meta.sampling),
            "naive_requests": args.naive, "batched_requests": args.batched,
            "rounds": args.rounds,
            "torch_threads": torch.get_num_threads(), "model": model.name,
            "model_version": model.version},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "load_average_before": load_before},
        "git_commit": git_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"text bench: batched {one['batched_descriptions_per_s']:.1f}/s vs naive "
          f"{one['naive_descriptions_per_s']:.2f}/s = {one['batched_speedup']:.1f}x; "
          f"{one['batched_gflops']:.1f} GFLOP/s = {one['batched_roofline_fraction']:.2f} of "
          f"fp32 matmul ({one['fp32_matmul_gflops']:.1f}); lean forward "
          f"{one['lean_forward_speedup']:.2f}x the checkpoint's -> {args.out}")
    if "worker_layout" in report:
        layout = report["worker_layout"]
        print(f"  in {args.processes} one-thread processes: batched "
              f"{layout['batched_descriptions_per_s']:.1f}/s vs naive "
              f"{layout['naive_descriptions_per_s']:.2f}/s = {layout['batched_speedup']:.1f}x; "
              f"{layout['batched_roofline_fraction']:.2f} of fp32 matmul")


if __name__ == "__main__":
    main()
