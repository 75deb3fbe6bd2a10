"""The ``recgen`` command line, the top layer: one module per noun, each registering its
sub-commands; heavy imports (torch, the API, the models) happen inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from recgen.cli import ab, api, catalog, db, demo, evaluate, index, simulate, train, worker
from recgen.core.config import use_config_file
from recgen.core.errors import RecgenError

app = typer.Typer(
    name="recgen",
    help="Personalized generated product content for e-commerce recommenders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(catalog.app, name="catalog")
app.add_typer(simulate.app, name="simulate")
app.add_typer(index.app, name="index")
app.command("demo")(demo.demo)
app.command("worker")(worker.worker)
app.command("beat")(worker.beat)
app.add_typer(train.app, name="train")
app.add_typer(evaluate.app, name="eval")
app.command("serve")(api.serve)
app.add_typer(api.keys_app, name="api-key")
app.add_typer(ab.app, name="ab")


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings TOML file (default: config/$RECGEN_ENV.toml)."),
    ] = None,
) -> None:
    use_config_file(config)


def main() -> None:
    """Console entry point: expected failures end in one clear line, not a traceback.

    Typer runs standalone: it prints usage errors with the usage (exit 2) and handles its own
    exit and abort. Since typer 0.26 those are typer's vendored click exceptions, not click's,
    so catching click's here would miss them.
    """
    try:
        app()
    except RecgenError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
