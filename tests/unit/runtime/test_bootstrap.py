"""Process-wide wiring: the job process's thread pools and the image pipeline come from the
settings, and the jobs get the collaborators built here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import faiss
import pytest
import torch

from harness.catalog import make_products
from recgen.core.config import WEIGHTS_DIR, Settings, load_settings
from recgen.core.types import Product
from recgen.generation.engine import GenerationEngine
from recgen.profiles.model import ItemFeatures
from recgen.profiles.service import ProfileService
from recgen.retrieval.item_vectors import ItemVectors
from recgen.runtime import bootstrap
from recgen.runtime.bootstrap import image_classifier_path, image_handle, set_compute_threads
from recgen.store.migrate import upgrade
from tests.support.fakes import FakeImage, FakeText
from tests.support.tiny_models import save_tiny_image_models


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


def test_image_handle_is_versioned_by_the_whole_pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pipeline, _ = save_tiny_image_models(make_products(12), tmp_path)
    monkeypatch.setenv("RECGEN_IMAGE_MODEL_PATH", str(pipeline))
    monkeypatch.delenv("RECGEN_IMAGE_CLASSIFIER_PATH", raising=False)
    before = image_handle(load_settings())
    index = pipeline / "model_index.json"
    index.write_text(index.read_text().replace('"n_candidates": 8', '"n_candidates": 4'))
    after = image_handle(load_settings())
    # Same weights, other sampling settings: other images, so other cache keys.
    assert (after.name, before.name) == ("tiny-cgan", "tiny-cgan")
    assert after.version != before.version


def test_the_gate_classifier_is_the_pipelines_unless_overridden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RECGEN_IMAGE_MODEL_PATH", raising=False)
    monkeypatch.delenv("RECGEN_IMAGE_CLASSIFIER_PATH", raising=False)
    assert image_classifier_path(load_settings()) == WEIGHTS_DIR / "image_classifier"
    monkeypatch.setenv("RECGEN_IMAGE_CLASSIFIER_PATH", str(tmp_path / "gate"))
    assert image_classifier_path(load_settings()) == tmp_path / "gate"
