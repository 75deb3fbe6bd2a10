"""``recgen serve`` (the API under uvicorn) and ``recgen api-key`` (create, list, revoke)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from recgen.cli.common import open_store
from recgen.core.config import ConfigError, config_file_in_use, get_settings, use_config_file
from recgen.store.db import session_scope
from recgen.store.repos.api_keys import (
    SCOPES,
    create_api_key,
    get_api_key_by_name,
    list_api_keys,
    revoke_api_key,
)

keys_app = typer.Typer(help="API keys (only their sha256 is stored).", no_args_is_help=True)
# Worker processes re-create the app from scratch: they learn the --config file from here.
CONFIG_ENV = "RECGEN_API_CONFIG_FILE"


def app_factory():  # type: ignore[no-untyped-def]  # uvicorn's factory hook, untyped by design
    """Build the app inside each uvicorn worker process."""
    from recgen.api.app import create_app

    config = os.environ.get(CONFIG_ENV)
    use_config_file(Path(config) if config else None)
    return create_app(get_settings())


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: api_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api_port).")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes (default: api_workers).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
) -> None:
    """Serve the API with uvicorn on uvloop + httptools.

    The default asyncio + h11 stack with several workers answered every request ~44 ms late
    on this machine (the inherited listening socket lacks TCP_NODELAY, so Nagle meets delayed
    ACK); uvloop sets TCP_NODELAY on every accepted connection. bench/api_bench.py measures
    the p99 so that a regression is caught.
    """
    missing = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the API needs {' and '.join(missing)} (pip install 'uvicorn[standard]'): "
            "the default asyncio + h11 stack adds ~44 ms per request with several workers"
        )
    import uvicorn

    settings = get_settings()
    # Fail here, in one line, rather than in every worker.
    if settings.cache_backend != "redis":
        raise ConfigError('the API serves feeds from Redis: set cache_backend = "redis"')
    config = config_file_in_use()
    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    uvicorn.run(
        "recgen.cli.api:app_factory",
        **uvicorn_options(
            host=host or settings.api_host,
            port=port or settings.api_port,
            workers=workers or settings.api_workers,
            access_log=access_log,
            keep_alive_s=settings.api_keep_alive_seconds,
            limit_concurrency=settings.api_limit_concurrency,
        ),
    )


def uvicorn_options(
    *,
    host: str,
    port: int,
    workers: int,
    access_log: bool,
    keep_alive_s: float = 5.0,
    limit_concurrency: int | None = None,
) -> dict[str, Any]:
    """The server settings of ``recgen serve`` (the benchmark serves its baseline with these).

    httptools with a deadline on each request's head (api_header_timeout_seconds, see
    recgen/api/server.py); idle keep-alive connections closed after ``keep_alive_s``; past
    ``limit_concurrency`` requests in flight uvicorn answers 503 at once.
    """
    return {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": "recgen.api.server:HeadTimeoutHttpTools",
        "timeout_keep_alive": keep_alive_s,
        "limit_concurrency": limit_concurrency,
        "access_log": access_log,
        "log_level": "info",
    }


@keys_app.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="A unique name, e.g. the calling service.")],
    scope: Annotated[
        list[str], typer.Option("--scope", help=f"Repeatable; one of {', '.join(SCOPES)}.")
    ],
) -> None:
    """Create a key and print it once (it is never shown again)."""
    try:
        with session_scope(open_store()) as session:
            if get_api_key_by_name(session, name=name) is not None:
                raise typer.BadParameter(f"a key named {name!r} exists", param_hint="NAME")
            _row, key = create_api_key(session, name=name, scopes=scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from exc
    typer.echo(key)
    typer.echo(f"created key {name!r} with scopes {sorted(set(scope))}", err=True)


@keys_app.command("list")
def list_cmd() -> None:
    """Names, scopes and state of all keys."""
    with session_scope(open_store()) as session:
        for row in list_api_keys(session):
            state = "revoked" if row.revoked else "active"
            typer.echo(f"{row.name}\t{','.join(row.scopes)}\t{state}\t{row.created_at:%Y-%m-%d}")


@keys_app.command("revoke")
def revoke_cmd(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key (servers stop accepting it within api_key_cache_seconds)."""
    with session_scope(open_store()) as session:
        if not revoke_api_key(session, name=name):
            raise typer.BadParameter(f"no active key named {name!r}", param_hint="NAME")
    typer.echo(f"revoked {name!r}")
