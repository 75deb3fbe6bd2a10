"""Settings: a TOML file from ``config/`` overlaid by ``RECGEN_*`` environment variables.

The file is chosen by ``--config PATH`` (CLI) or ``RECGEN_ENV`` (``default``, ``test``,
``production``). Environment variables win over the file so a deployment can change any field
without editing it. The file is read by pydantic-settings' TOML source (:class:`ProjectTomlSource`,
which resolves its relative paths). Nothing is read at import time: call :func:`get_settings`.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from recgen.core.errors import RecgenError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "config"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
CONFIG_FILE_ENV = "RECGEN_CONFIG_FILE"

# Fields holding filesystem paths: relative values in a TOML file are taken relative to the
# project root (so the demo works from any working directory); from the environment they
# are taken relative to the working directory, as a shell user expects.
_PATH_FIELDS = (
    "data_dir",
    "var_dir",
    "index_dir",
    "text_model_path",
    "image_model_path",
    "image_classifier_path",
)


class ConfigError(RecgenError):
    """Settings that cannot be used; the message names the offending field."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECGEN_", extra="forbid", frozen=True)

    env: str = "default"

    # Where things live.
    data_dir: Path = Field(default=PROJECT_ROOT.parent / "shared" / "data")
    var_dir: Path = Field(default=PROJECT_ROOT / "var")
    index_dir: Path = Field(default=PROJECT_ROOT / "var" / "indexes")
    text_model_path: Path = Field(default=WEIGHTS_DIR / "text")
    # The image pipeline: generator, sampling settings and (in its model_index.json) the gate
    # classifier's directory. Set, image_classifier_path replaces that classifier.
    image_model_path: Path = Field(default=WEIGHTS_DIR / "image")
    image_classifier_path: Path | None = None

    # Storage and transport.
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'recgen.db'}"
    cache_backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    executor: Literal["inprocess", "celery"] = "inprocess"
    broker_url: str = "redis://127.0.0.1:6379/1"
    result_backend: str = "redis://127.0.0.1:6379/2"

    # Compute.
    torch_threads: int = Field(default=1, ge=1, le=256)
    # FAISS's OpenMP pool; unset, it takes every core and spin-waits between calls.
    faiss_threads: int = Field(default=1, ge=1, le=256)

    # Asset cache.
    asset_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    asset_ttl_jitter: float = Field(default=0.1, ge=0.0, lt=1.0)

    # Key namespace of the asset cache in Redis (tests use a unique one per run).
    cache_prefix: str = Field(default="recgen", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")

    # Catalog loading.
    catalog_batch_size: int = Field(default=2000, gt=0)

    # Generation and feeds.
    persona_sharing: bool = True  # assets keyed by (product, persona), shared by its users
    feed_size: int = Field(default=10, gt=0, le=500)
    feed_max_age_s: int = Field(default=24 * 3600, gt=0)  # older feeds are refreshed by beat
    generation_seed: int = 0
    # Requests per model call. Text decoding gains from big, length-bucketed batches (per-step
    # overhead amortised, little padding); the image generator is fastest at ~64 (cache-sized).
    generation_text_batch_size: int = Field(default=256, gt=0)
    generation_image_batch_size: int = Field(default=64, gt=0)
    lock_ttl_s: float = Field(default=120.0, gt=0)  # stampede lock; > one batch's generation
    lock_wait_s: float = Field(default=2.0, ge=0)  # wait for another worker's asset, then stock

    # Workers (Celery) and the in-process executor.
    celery_queue: str = Field(default="recgen", min_length=1)
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    worker_max_memory_kb: int = Field(default=2_000_000, gt=0)  # recycle a bloated child
    # A child loads its models before it reports up; Celery's default (4 s) kills it mid-load
    # on a busy machine and the replacement loops forever.
    worker_start_timeout_s: float = Field(default=300.0, gt=0)
    task_time_limit_s: int = Field(default=900, gt=0)  # hard kill of one task
    visibility_timeout_s: int = Field(default=3600, gt=0)  # must exceed task_time_limit_s
    # How long a finished task's result (and who may read it) is kept.
    task_result_expires_s: int = Field(default=24 * 3600, gt=0)
    task_max_retries: int = Field(default=3, ge=0)
    max_deliveries: int = Field(default=3, ge=1)  # a task that kills its worker N times is dropped
    beat_refresh_interval_s: float = Field(default=900.0, gt=0)
    refresh_chunk_size: int = Field(default=50, gt=0)  # users per refresh task (dedup window)
    refresh_max_chunks: int = Field(default=200, gt=0)  # chunks one beat run may enqueue
    inprocess_threads: int = Field(default=2, ge=1, le=64)

    # Serving API.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_workers: int = Field(default=1, ge=1, le=64)
    # When set, an admin key with this value is created at startup (first deployment only).
    api_bootstrap_key: SecretStr | None = None
    # Signs asset URLs (GET /v1/assets/{key}?t=...); required when env = "production". Unset
    # elsewhere, a secret derived from cache_prefix is used (fine for a laptop, not a server).
    asset_url_secret: SecretStr | None = Field(default=None, min_length=16)
    # Exposure (production defaults in config/production.toml, listed in docs/operations.md).
    # /docs, /redoc and /openapi.json are served.
    api_docs_enabled: bool = True
    # /metrics is open; when False it needs an admin key (Prometheus: bearer_token).
    api_metrics_public: bool = True
    # A 403 names the key and its scopes (handy in development; tells an attacker which
    # key they hold and what it may do).
    api_verbose_auth_errors: bool = True
    # /health/ready reuses its verdict this long (0: every call checks), so a probe storm
    # costs one round of checks per interval whatever the broker.
    api_ready_cache_seconds: float = Field(default=0.0, ge=0.0, le=60.0)
    api_max_body_bytes: int = Field(default=1_048_576, gt=0)
    api_max_events_per_batch: int = Field(default=1000, gt=0)
    # Per API key, shared by all API processes (counted in Redis); over it: 429.
    api_generate_per_minute: int = Field(default=600, gt=0)
    # Events a key may post per minute (a batch counts its events).
    api_events_per_minute: int = Field(default=60_000, gt=0)
    # Feed requests of a key that enqueue work (a refresh, or regeneration of missing assets)
    # per minute; over it the feed answers 429 and enqueues nothing.
    api_feed_enqueues_per_minute: int = Field(default=1200, gt=0)
    # Tasks a key may have queued and not finished (generate, events); past it: 429. An
    # unfinished task stops counting after visibility_timeout_s (its end was never reported).
    api_queued_tasks_per_key: int = Field(default=1000, gt=0)
    # Users whose last feed's product ids each API process remembers for Redis outages.
    api_recent_feeds: int = Field(default=50_000, ge=0)
    # Revoking a key takes effect on every server within this many seconds.
    api_key_cache_seconds: float = Field(default=30.0, ge=0.0)
    # How long (ms) a thread holding the GIL keeps it while the event loop waits for it.
    # Python's 5 ms default lets a sync route's or the drain's Python work delay a feed that
    # is ready to run by up to 5 ms; 0.5 ms took about 0.8 ms off the soak's feed p99.
    api_gil_switch_interval_ms: float = Field(default=0.5, gt=0.0, le=100.0)
    # Deadline of each async Redis call of the API (feed script, asset GET); past it the feed
    # is served with stock content, as when Redis is down.
    api_redis_timeout_seconds: float = Field(default=5.0, gt=0.0)
    # Requests one API process serves at once; past it uvicorn answers 503 at once instead of
    # queueing work it cannot finish (uvicorn's limit_concurrency).
    api_limit_concurrency: int = Field(default=1000, ge=1)
    # Connections of each API process's async Redis pool. None: api_limit_concurrency plus
    # headroom, so no request ever finds the pool empty (redis-py's default of 100 served
    # every request past the 100th concurrent one stock: "Too many connections").
    api_redis_max_connections: int | None = Field(default=None, ge=1)
    # An idle keep-alive connection is closed after this many seconds (uvicorn's
    # timeout_keep_alive).
    api_keep_alive_seconds: float = Field(default=5.0, gt=0.0)
    # A request's head (request line and headers) must arrive within this many seconds of
    # the connection opening or of the previous response; else the connection is closed.
    api_header_timeout_seconds: float = Field(default=10.0, gt=0.0)
    # Each chunk of a request body must arrive within this many seconds of the previous one
    # (else 408); a stalled body held its connection and request slot without end.
    api_body_timeout_seconds: float = Field(default=30.0, gt=0.0)
    feed_max_limit: int = Field(default=100, gt=0)
    # What users outside any running experiment see.
    feed_default_content: Literal["generated", "stock"] = "generated"
    experiment_refresh_seconds: float = Field(default=5.0, gt=0.0)
    exposure_stream: str = "exposures"  # a Redis stream under cache_prefix
    exposure_drain_batch: int = Field(default=500, gt=0)
    exposure_drain_interval_seconds: float = Field(default=1.0, gt=0.0)
    # False when `recgen ab drain --follow` runs beside the API: the drain's SQL work holds
    # the GIL in the serving process and shows up in the feed's tail latency.
    exposure_drain_in_api: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        return value

    @model_validator(mode="after")
    def _visibility_outlives_tasks(self) -> Settings:
        # A Redis broker redelivers an unacked message after the visibility timeout; if that
        # were shorter than a task, a healthy long task would run twice in parallel.
        if self.visibility_timeout_s <= self.task_time_limit_s:
            raise ValueError("visibility_timeout_s must be longer than task_time_limit_s")
        return self

    @model_validator(mode="after")
    def _pool_covers_concurrency(self) -> Settings:
        pool = self.api_redis_max_connections
        if pool is not None and pool < self.api_limit_concurrency:
            raise ValueError(
                f"api_redis_max_connections ({pool}) must be at least api_limit_concurrency "
                f"({self.api_limit_concurrency}): requests past the pool are served stock"
            )
        return self

    @property
    def api_redis_pool_size(self) -> int:
        """Each API process's async Redis pool: one connection per concurrent request, plus
        headroom for the background loops."""
        return self.api_redis_max_connections or self.api_limit_concurrency + 16

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over everything, so a deployment can change any field.
        toml_file = _TOML_FILE.get()
        if toml_file is None:
            return (env_settings, init_settings)
        return (env_settings, init_settings, ProjectTomlSource(settings_cls, toml_file))


# The file the next Settings() reads (set by load_settings for the duration of the call).
_TOML_FILE: ContextVar[Path | None] = ContextVar("recgen_toml_file", default=None)


class ProjectTomlSource(TomlConfigSettingsSource):
    """A ``config/*.toml`` file, with its relative paths taken relative to the project root
    (the file's folder's parent), so the demo works from any working directory."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        data = super()._read_file(file_path)
        root = Path(str(file_path)).resolve().parent.parent
        for key in _PATH_FIELDS:
            if key in data and not Path(data[key]).is_absolute():
                data[key] = str(root / data[key])
        url = data.get("database_url")
        if isinstance(url, str) and url.startswith("sqlite:///"):
            db_path = url.removeprefix("sqlite:///")
            if db_path and not db_path.startswith("/") and db_path != ":memory:":
                data["database_url"] = f"sqlite:///{root / db_path}"
        return data


def config_file_for(env: str) -> Path:
    return CONFIG_DIR / f"{env}.toml"


def load_settings(config_path: Path | None = None) -> Settings:
    """Build settings from a TOML file and the environment; raise ConfigError naming the field."""
    env = os.environ.get("RECGEN_ENV", "default")
    # RECGEN_CONFIG_FILE carries ``--config`` to child processes (``recgen worker`` execs
    # celery, which must read the same file).
    from_env = os.environ.get(CONFIG_FILE_ENV)
    path = config_path or (Path(from_env) if from_env else config_file_for(env))
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    token = _TOML_FILE.set(path)
    try:
        return Settings()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'} "
            f"(RECGEN_{str(err['loc'][0]).upper() if err['loc'] else ''}): {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings from {path}: {problems}") from exc
    finally:
        _TOML_FILE.reset(token)


_config_override: Path | None = None


def use_config_file(path: Path | None) -> None:
    """Select the config file for later get_settings() calls (the CLI's --config)."""
    global _config_override
    _config_override = path
    if path is not None:
        os.environ[CONFIG_FILE_ENV] = str(path.resolve())
    get_settings.cache_clear()


def config_file_in_use() -> Path | None:
    """The file chosen by use_config_file (None: config/$RECGEN_ENV.toml)."""
    return _config_override


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings(_config_override)
