"""Process-wide wiring: the job process's thread pools come from the settings."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import pytest
import torch

from recgen.config import load_settings
from recgen.wiring import set_compute_threads


@pytest.fixture
def restored_threads() -> Iterator[None]:
    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    yield
    torch.set_num_threads(torch_threads)
    faiss.omp_set_num_threads(faiss_threads)


def test_compute_threads_size_torch_and_faiss(
    monkeypatch: pytest.MonkeyPatch, restored_threads: None
) -> None:
    monkeypatch.setenv("RECGEN_TORCH_THREADS", "3")
    monkeypatch.setenv("RECGEN_FAISS_THREADS", "5")
    set_compute_threads(load_settings())
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (3, 5)


def test_faiss_runs_one_thread_unless_configured(
    monkeypatch: pytest.MonkeyPatch, restored_threads: None
) -> None:
    monkeypatch.delenv("RECGEN_FAISS_THREADS", raising=False)
    faiss.omp_set_num_threads(4)
    set_compute_threads(load_settings())
    assert faiss.omp_get_max_threads() == 1
