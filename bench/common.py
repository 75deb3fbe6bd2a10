"""What every benchmark records: the commit it measured, and the machine's fp32 matmul rate
(the denominator of the roofline fractions); and the server the benchmarks that store anything
make their scratch database on (``harness.database.scratch_database``)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "RECGEN_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


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
    """Sustained fp32 n x n matmul rate with torch's current thread count: the faster of
    torch's default BLAS (``torch.mm``) and oneDNN on a prepacked weight (the text decoder's
    matmuls), each run for ``seconds`` where torch has oneDNN. On AVX-512 AMD cores oneDNN
    is the faster one (about 1.15x at n = 1024), and a roofline fraction must not be taken
    against the slower library's rate."""
    import torch  # here: the report and the API bench never need it

    from recgen.models.text.llama_decoder import Linear, onednn_available

    a, b = torch.randn(n, n), torch.randn(n, n)
    products = [lambda: a @ b]
    if onednn_available():
        packed = Linear(b, None, onednn=True)
        products.append(lambda: packed(a))
    best = 0.0
    with torch.inference_mode():
        for product in products:
            product()  # warm-up
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                product()
                count += 1
            best = max(best, 2 * n**3 * count / (time.perf_counter() - start))
    return best
