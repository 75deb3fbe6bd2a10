"""Merge the per-benchmark JSON files into bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import git_commit

# The headline figures the project tracks: (target, what it measures).
HEADLINE: dict[str, tuple[str, str]] = {
    "text_batched_speedup": (">= 25", "batched vs naive per-request generate, same run"),
    "text_roofline_fraction": (">= 0.4", "achieved FLOP/s / fp32 matmul rate, same run"),
    "image_roofline_fraction": (">= 0.5", "batched images/s incl. encoding / matmul limit"),
    "image_roofline_fraction_gated": (">= 0.5", "the same with the classifier gate (as served)"),
    "image_fid_ratio_vs_mlp_baseline": ("<= 0.5", "cGAN FID / MLP GAN FID, same wall time"),
    "retrieval_recall_at_10": (">= 0.97", "approximate vs exact, 500k items"),
    "retrieval_speedup": (">= 50", "exact / approximate time per query"),
    "profile_update_p99_ms": ("<= 2", "one event, excluding I/O"),
    "feed_refresh_10k_seconds": ("<= 600", "10,000 users x 10 products, 2 workers"),
    "celery_overhead_share": ("<= 0.05", "Celery + Redis time / total"),
    "feed_p99_ms_at_1000rps": ("<= 5", "GET /v1/feed, warm cache, 1 worker (`recgen serve`)"),
    "feed_throughput_vs_bare": (">= 0.7", "saturated feed rps / bare Redis endpoint rps, 1 worker"),
    "feed_p99_ms_at_1000rps_2_workers": ("<= 5", "the same p99, 2 workers per server"),
    "feed_throughput_vs_bare_2_workers": (
        ">= 0.7",
        "the same ratio, 2 workers: both cores shared with Redis, PostgreSQL and wrk",
    ),
}


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def _met(value: Any, target: str) -> str:
    """"yes"/"no" for a number against ">= x" / "<= x"; "-" when not measured."""
    if not isinstance(value, int | float):
        return "-"
    op, bound = target.split()
    return "yes" if (value >= float(bound) if op == ">=" else value <= float(bound)) else "no"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inputs", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--md", type=Path, required=True)
    args = parser.parse_args()

    benches = {path.stem: json.loads(path.read_text()) for path in args.inputs}
    merged: dict[str, Any] = {
        "commit": git_commit(short=True),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
    }
    for figures in benches.values():
        # A bench gives its headline figures at its top level or under "headline".
        for source in (figures, figures.get("headline", {})):
            merged.update({k: v for k, v in source.items() if k in HEADLINE})
    merged["benchmarks"] = benches
    args.json.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")

    # bench/run NAME... re-runs some benchmarks; each keeps the commit it was measured at.
    measured_at = {name: str(figures.get("git_commit") or figures.get("commit") or "?")[:7]
                   for name, figures in benches.items()}
    commits = ", ".join(f"{name} `{commit}`" for name, commit in measured_at.items())
    lines = [
        "# Benchmark results",
        "",
        f"Report of {merged['date']} at commit `{merged['commit']}`, {merged['machine']['cpu']} "
        f"({merged['machine']['cores']} cores). Produced by `bench/run`; every ratio compares "
        f"figures measured in the same run. Measured at: {commits}.",
        "",
        "| figure | value | target | met | what |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, (target, what) in HEADLINE.items():
        value = merged.get(key, "not measured")
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| `{key}` | {shown} | {target} | {_met(value, target)} | {what} |")
    source = benches.get("image_bench", {}).get("image_fid_ratio_source")
    if source:
        lines += ["", f"`image_fid_ratio_vs_mlp_baseline`: {source}."]
    for name, figures in benches.items():
        lines += ["", f"## {name} (commit `{measured_at[name]}`)", "", "```json",
                  json.dumps(figures, indent=2), "```"]
    args.md.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.json} and {args.md} ({len(benches)} benchmarks)")


if __name__ == "__main__":
    main()
