"""Corrupted model files and FAISS indexes: refused at load with a message naming the file;
the worker serves stock content (models) or rebuilds (indexes) instead of serving garbage."""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path

import pytest
import redis

from harness.catalog import random_item_vectors
from harness.worker_process import celery_worker, wait_for_task
from harness.world import PRODUCTS, seed
from recgen.core.config import load_settings
from recgen.core.errors import IndexLoadError, ModelLoadError
from recgen.generation.cache import RedisAssetCache
from recgen.models.image.classifier import ImageClassifier
from recgen.models.image.generator import ImageGenerator
from recgen.profiles.service import open_service
from recgen.runtime.celery_config import make_celery_client
from recgen.runtime.dispatch import CeleryDispatcher
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.repos.experiments import ensure_users
from tests.support.tiny_models import save_tiny_image_models
from tests.support.world import worker_env


def _flip_byte(path: Path, offset_from_end: int = 64) -> None:
    """Same size, one byte changed inside the tensor data (not the header)."""
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture()
def models(tmp_path: Path) -> tuple[Path, Path]:
    return save_tiny_image_models(PRODUCTS, tmp_path)


def test_model_with_flipped_weight_byte_is_refused(models: tuple[Path, Path]) -> None:
    generator, _ = models
    ImageGenerator.from_pretrained(generator)  # intact: loads
    _flip_byte(generator / "model.safetensors")
    with pytest.raises(ModelLoadError, match="does not match its checksum"):
        ImageGenerator.from_pretrained(generator)


def test_truncated_model_is_refused_naming_the_file(models: tuple[Path, Path]) -> None:
    _, classifier = models
    weights = classifier / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=re.escape(str(classifier))):
        ImageClassifier.from_pretrained(classifier)


def test_corrupted_faiss_index_is_rebuilt_and_item_vectors_refused(
    migrated_pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed(migrated_pg_url)
    random_item_vectors(PRODUCTS).save(tmp_path / "items")
    sessions = session_factory(make_engine(migrated_pg_url))
    with session_scope(sessions) as session:
        first = open_service(session, index_dir=tmp_path, products=PRODUCTS)
        query = random_item_vectors(PRODUCTS).text[:3]
        assert first.retriever is not None
        expected = first.retriever.index.search(query, 5)[1].tolist()
    index_file = next(tmp_path.glob("items*.faiss"))
    _flip_byte(index_file, offset_from_end=16)
    with caplog.at_level(logging.WARNING), session_scope(sessions) as session:
        again = open_service(session, index_dir=tmp_path, products=PRODUCTS)
        assert again.retriever is not None
        assert again.retriever.index.search(query, 5)[1].tolist() == expected
    assert "rebuilding items index" in caplog.text
    _flip_byte(tmp_path / "items" / "text.npy")
    with pytest.raises(IndexLoadError, match=r"text\.npy"), session_scope(sessions) as session:
        open_service(session, index_dir=tmp_path, products=PRODUCTS)


def test_worker_with_a_corrupted_model_serves_stock(
    migrated_pg_url: str, models: tuple[Path, Path], tmp_path: Path
) -> None:
    generator, classifier = models
    _flip_byte(generator / "model.safetensors")
    seed(migrated_pg_url)
    with session_scope(session_factory(make_engine(migrated_pg_url))) as session:
        ensure_users(session, user_ids=[42])
    random_item_vectors(PRODUCTS).save(tmp_path / "indexes" / "items")
    run = uuid.uuid4().hex[:8]
    env = worker_env(
        migrated_pg_url,
        tmp_path / "indexes",
        f"rel-{run}",
        RECGEN_IMAGE_MODEL_PATH=str(generator),
        RECGEN_IMAGE_CLASSIFIER_PATH=str(classifier),
        RECGEN_TEST_REAL_IMAGE="1",
        RECGEN_PERSONA_SHARING="false",
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    cache = RedisAssetCache(client, settings.cache_prefix, 600, 0.0)
    try:
        dispatcher = CeleryDispatcher(make_celery_client(settings), settings.celery_queue)
        log = tmp_path / "worker.log"
        with celery_worker(env, log, include=["harness.light_engine"]):
            task = dispatcher.submit_refresh(42)
            state = wait_for_task(dispatcher, task, timeout=120)
        assert state[0] == "SUCCESS", state
        feed = cache.get_feed(42)
        assert feed is not None and feed.items
        assert all(item.text_key is None and item.image_key is None for item in feed.items)
        assert all("model unavailable" in (item.image_gate.reasons[0] if item.image_gate else "")
                   for item in feed.items)
        assert "does not match its checksum" in log.read_text()
    finally:
        cache.purge()
        client.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
