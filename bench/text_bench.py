"""Text generation benchmark: naive per-request ``generate`` vs recgen's batched path.

Same model, same sampling settings (temperature, top-k, top-p, max new tokens), same run.
Writes descriptions/s for both, their ratio (``text_batched_speedup``), the achieved FLOP/s of
each as a fraction of the fp32 matmul rate measured in this run (``text_roofline_fraction``),
plus settings, machine and git commit.

    PYTHONPATH=. python bench/text_bench.py --out var/bench/text.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from bench.common import git_commit, matmul_flops_per_s
from recgen.catalog import read_styles
from recgen.config import get_settings
from recgen.models.text.corpus import split_products
from recgen.models.text.eval import PERSONAS
from recgen.models.text.model import TextModel
from recgen.models.text.sampling import generate_ids
from recgen.types import TextRequest


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


def run_batched(model: TextModel, prompts: list[list[int]],
                seeds: list[int]) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    outputs = generate_ids(model.model, prompts, seeds, eos_id=model.tokenizer.eos_token_id,
                           pad_id=model.tokenizer.pad_token_id, settings=model.meta.sampling,
                           banned=model.special_ids())
    return time.perf_counter() - start, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--naive", type=int, default=48, help="requests for the naive path")
    parser.add_argument("--batched", type=int, default=1024, help="requests, batched path")
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
    peak = matmul_flops_per_s(1.0) / 1e9
    naive_s, naive_out = run_naive(model, prompts[: args.naive], seeds[: args.naive])
    batched_s, batched_out = run_batched(model, prompts, seeds)
    naive_rate, batched_rate = args.naive / naive_s, args.batched / batched_s
    naive_gflops = useful_flops(model.model, prompts[: args.naive], naive_out) / naive_s / 1e9
    batched_gflops = useful_flops(model.model, prompts, batched_out) / batched_s / 1e9
    report = {
        "text_batched_speedup": batched_rate / naive_rate,
        "text_roofline_fraction": batched_gflops / peak,
        "naive_roofline_fraction": naive_gflops / peak,
        "fp32_matmul_gflops": peak,
        "batched_gflops": batched_gflops, "naive_gflops": naive_gflops,
        "batched_descriptions_per_s": batched_rate, "naive_descriptions_per_s": naive_rate,
        "mean_new_tokens_batched": sum(map(len, batched_out)) / len(batched_out),
        "mean_new_tokens_naive": sum(map(len, naive_out)) / len(naive_out),
        "settings": {"sampling": asdict(model.meta.sampling),
            "naive_requests": args.naive, "batched_requests": args.batched,
            "torch_threads": torch.get_num_threads(), "model": model.name,
            "model_version": model.version},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "load_average_before": load_before},
        "git_commit": git_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"text bench: batched {batched_rate:.1f}/s vs naive {naive_rate:.2f}/s = "
          f"{report['text_batched_speedup']:.1f}x; {batched_gflops:.1f} GFLOP/s = "
          f"{report['text_roofline_fraction']:.2f} of fp32 matmul ({peak:.1f}) -> {args.out}")


if __name__ == "__main__":
    main()
