"""``recgen db``: schema migrations through Alembic with the project's settings."""

from __future__ import annotations

import typer

from recgen.core.config import get_settings
from recgen.store.db import check_connection, make_engine
from recgen.store.migrate import current_revision, downgrade, upgrade

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = get_settings().database_url
    check_connection(make_engine(url))
    upgrade(url, revision)
    typer.echo(f"database at revision {current_revision(url)}")


@app.command("downgrade")
def downgrade_cmd(
    revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base"),
) -> None:
    """Revert migrations down to REVISION."""
    url = get_settings().database_url
    check_connection(make_engine(url))
    downgrade(url, revision)
    typer.echo(f"database at revision {current_revision(url)}")


@app.command("current")
def current_cmd() -> None:
    """Print the database's current revision."""
    url = get_settings().database_url
    check_connection(make_engine(url))
    typer.echo(current_revision(url) or "empty (no migrations applied)")
