"""The one place that builds the running system from settings: the generation engine, the
asset cache, the job context a worker process (or the embedded executor) uses, and the
dispatcher the API submits work through. The API, the workers, the CLI and the demo all build
their collaborators here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy.orm import Session, sessionmaker

from recgen.core.errors import ModelLoadError
from recgen.core.types import GeneratedImage, ImageRequest
from recgen.generation.cache import AssetCache, MemoryAssetCache, RedisAssetCache
from recgen.generation.engine import GenerationEngine, ModelHandle
from recgen.jobs.context import JobContext
from recgen.jobs.functions import job_table
from recgen.runtime.queued import QueuedTasks
from recgen.store.db import check_connection, make_engine, session_factory, session_scope
from recgen.store.repos.products import iter_products

if TYPE_CHECKING:
    from recgen.core.config import Settings
    from recgen.runtime.dispatch import Dispatcher

log = logging.getLogger(__name__)
UNAVAILABLE = "unavailable"  # model name and version of the stand-in for a refused model


def engine_or_stock(settings: Settings) -> GenerationEngine:
    """The configured engine; if a model artefact is refused at load (corrupt, missing, wrong
    checksum) an engine whose every generation fails, so feeds get stock content, instead of a
    worker that dies at start in a loop (or one serving a garbage model)."""
    try:
        return build_engine(settings)
    except ModelLoadError as exc:
        log.error("model refused at load; serving stock content until it is fixed: %s", exc)
        return GenerationEngine.from_settings(
            settings,
            text=ModelHandle(UNAVAILABLE, UNAVAILABLE, _refuse(exc)),
            image=ModelHandle(UNAVAILABLE, UNAVAILABLE, _refuse(exc)),
        )


def _refuse(error: ModelLoadError) -> Callable[[Sequence[Any]], list[Any]]:
    def generate(requests: Sequence[Any]) -> list[Any]:
        raise ModelLoadError(f"model unavailable: {error}")

    return generate


def set_compute_threads(settings: Settings) -> None:
    """Size this process's torch and FAISS thread pools (process-wide) for running jobs.

    Torch: for small batches two single-thread processes nearly doubled throughput over one
    two-thread process on this machine (see docs/engine.md). FAISS: its OpenMP threads
    spin-wait between calls; left at one per core, folding an event batch into profiles cost
    twice the CPU for the same wall time, taken from the API serving on the same machine.
    Where both load the same OpenMP runtime (it depends on the builds and the import order)
    they share one pool, and ``torch_threads`` sizes it.
    """
    import faiss
    import torch

    faiss.omp_set_num_threads(settings.faiss_threads)
    torch.set_num_threads(settings.torch_threads)
    if faiss.omp_get_max_threads() != settings.faiss_threads:
        log.warning("torch and FAISS share one OpenMP runtime here: both run %d thread(s) "
                    "(torch_threads), not faiss_threads=%d", settings.torch_threads,
                    settings.faiss_threads)


def build_context(settings: Settings, *, cache: AssetCache | None = None) -> JobContext:
    """Models, profiles/indexes, cache and database from settings (seconds: do it once).

    ``cache`` lets the embedded default share the API's in-memory cache.
    """
    # Imported here: the indexes (FAISS) load only in processes that run jobs, not the API's.
    from recgen.profiles.service import open_service

    sessions = build_sessions(settings)
    with session_scope(sessions) as session:
        products = list(iter_products(session))
        service = open_service(session, index_dir=settings.index_dir, products=products)
    return JobContext(
        engine=engine_or_stock(settings),
        cache=cache if cache is not None else build_cache(settings),
        sessions=sessions,
        profiles=service,
        persona_sharing=settings.persona_sharing,
        feed_size=settings.feed_size,
        feed_max_age_s=settings.feed_max_age_s,
        lock_ttl_s=settings.lock_ttl_s,
        lock_wait_s=settings.lock_wait_s,
    )


def build_job_runner(
    settings: Settings, *, cache: AssetCache | None = None
) -> Callable[[str, Mapping[str, Any]], Any]:
    """The embedded executor's jobs, run in this (the API's) process."""
    set_compute_threads(settings)
    table = job_table(
        build_context(settings, cache=cache),
        chunk_size=settings.refresh_chunk_size,
        max_chunks=settings.refresh_max_chunks,
    )

    def run(name: str, kwargs: Mapping[str, Any]) -> Any:
        return table[name](**kwargs)

    return run


def build_dispatcher(settings: Settings, *, cache: AssetCache | None = None) -> Dispatcher:
    """The configured dispatcher.

    In-process, pass the caller's ``cache``: with the memory backend the jobs must write
    into the very cache object the API reads (a second MemoryAssetCache would be empty).
    """
    # Imported here: Celery is needed only where work is submitted (the API, beat).
    from recgen.runtime.celery_config import make_celery_client
    from recgen.runtime.dispatch import CeleryDispatcher, InProcessDispatcher

    if settings.executor == "celery":
        return CeleryDispatcher(make_celery_client(settings), settings.celery_queue)
    return InProcessDispatcher(
        lambda: build_job_runner(settings, cache=cache),
        max_workers=settings.inprocess_threads,
        # With Redis the API counts each key's queued tasks there (none are admitted without it).
        on_finish=build_queued_tasks(settings, build_redis(settings)).finished
        if settings.cache_backend == "redis" else None,
    )


def build_queued_tasks(settings: Settings, client: redis.Redis[bytes]) -> QueuedTasks:
    """Each API key's queued, unfinished tasks. An entry lapses after visibility_timeout_s:
    longer than any task may run (it exceeds task_time_limit_s), so only a task whose end was
    never reported stops counting that way."""
    return QueuedTasks(client, settings.cache_prefix, ttl_s=settings.visibility_timeout_s)


def build_engine(settings: Settings) -> GenerationEngine:
    """The engine with the shipped text and image models from the configured paths."""
    # Imported here: loading transformers/torch costs seconds, and the API, which imports
    # this package's cache and dispatch, never needs the models.
    from recgen.models.text import DescriptionGenerator, TextModel

    text_model = TextModel.from_pretrained(settings.text_model_path)
    return GenerationEngine.from_settings(
        settings,
        text=ModelHandle(
            text_model.name, text_model.version, DescriptionGenerator(text_model).generate
        ),
        image=image_handle(settings),
    )


def build_sessions(settings: Settings, *, check: bool = False) -> sessionmaker[Session]:
    """Sessions on the configured database; ``check`` fails at once, in one line, when it
    cannot be reached (what a command wants; a server retries per request instead)."""
    engine = make_engine(settings.database_url)
    if check:
        check_connection(engine)
    return session_factory(engine)


def build_redis(settings: Settings) -> redis.Redis[bytes]:
    """A synchronous client of the configured Redis, with bounded connects and commands."""
    client: redis.Redis[bytes] = redis.Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5
    )
    return client


def build_cache(settings: Settings, *, prefix: str | None = None) -> AssetCache:
    """The configured asset cache. ``prefix`` defaults to ``settings.cache_prefix``."""
    if settings.cache_backend == "memory":
        return MemoryAssetCache(settings.asset_ttl_seconds, settings.asset_ttl_jitter)
    return RedisAssetCache(
        build_redis(settings),
        prefix or settings.cache_prefix,
        settings.asset_ttl_seconds,
        settings.asset_ttl_jitter,
    )


def image_handle(settings: Settings) -> ModelHandle[ImageRequest, GeneratedImage]:
    """The image pipeline at ``image_model_path``, versioned as a whole (generator, gate
    classifier and sampling settings), with the ``image_classifier_path`` override applied."""
    from recgen.models.image.pipeline import ProductImageGenerator

    images = ProductImageGenerator.from_pretrained(
        settings.image_model_path, classifier=settings.image_classifier_path
    )
    return ModelHandle(images.name, images.version, images.generate)


def image_classifier_path(settings: Settings) -> Path:
    """The gate classifier the engine uses: the settings override, else the one the image
    pipeline names. Item image vectors come from it too, so taste and gate share one space."""
    from recgen.models.image.pipeline import classifier_path

    return settings.image_classifier_path or classifier_path(settings.image_model_path)
