"""What every benchmark records: the commit it measured, and the machine's fp32 matmul rate
(the denominator of the roofline fractions)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git_commit(*, short: bool = False) -> str:
    """HEAD of the checkout the benchmark runs from ("unknown" outside git)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", *(["--short"] if short else []), "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def matmul_flops_per_s(seconds: float, n: int = 1024) -> float:
    """Sustained fp32 n x n matmul rate over ``seconds``, with torch's current thread count."""
    import torch  # here: the report and the API bench never need it

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start)
