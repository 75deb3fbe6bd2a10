"""Process-wide wiring: the job process's thread pools come from the settings, and the jobs
get the collaborators built here."""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import pytest
import torch

from recgen.core.config import Settings, load_settings
from recgen.core.types import Product
from recgen.generation.engine import GenerationEngine
from recgen.profiles.model import ItemFeatures
from recgen.profiles.service import ProfileService
from recgen.retrieval.item_vectors import ItemVectors
from recgen.runtime import bootstrap
from recgen.runtime.bootstrap import set_compute_threads
from recgen.store.migrate import upgrade
from tests.support.fakes import FakeImage, FakeText


@pytest.fixture
def restored_threads() -> Iterator[None]:
    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    yield
    torch.set_num_threads(torch_threads)
    faiss.omp_set_num_threads(faiss_threads)


def test_compute_threads_size_torch_and_faiss(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, restored_threads: None
) -> None:
    monkeypatch.setenv("RECGEN_TORCH_THREADS", "3")
    monkeypatch.setenv("RECGEN_FAISS_THREADS", "5")
    set_compute_threads(load_settings())
    assert torch.get_num_threads() == 3
    # Separate OpenMP runtimes: each its own size; one shared runtime: torch's, and a warning.
    shared = "share one OpenMP runtime" in caplog.text
    assert faiss.omp_get_max_threads() == (3 if shared else 5)


def test_faiss_runs_one_thread_unless_configured(
    monkeypatch: pytest.MonkeyPatch, restored_threads: None
) -> None:
    monkeypatch.delenv("RECGEN_FAISS_THREADS", raising=False)
    monkeypatch.setenv("RECGEN_TORCH_THREADS", "1")  # as the test and production configs
    faiss.omp_set_num_threads(4)
    set_compute_threads(load_settings())
    assert faiss.omp_get_max_threads() == 1


def test_jobs_get_the_profile_service_itself(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, products: list[Product],
    item_vectors: ItemVectors,
) -> None:
    service = ProfileService(ItemFeatures(products, item_vectors), products)
    monkeypatch.setattr("recgen.profiles.service.open_service", lambda session, **_: service)
    monkeypatch.setattr(bootstrap, "engine_or_stock",
                        lambda settings: GenerationEngine(text=FakeText(), image=FakeImage()))
    upgrade(sqlite_url)
    ctx = bootstrap.build_context(Settings(database_url=sqlite_url))
    assert ctx.profiles is service
