"""``recgen train``: train a model (``text``; ``image`` is added by the image engine)."""

from __future__ import annotations

import typer

from recgen.cli.text import train_text

app = typer.Typer(help="Train models.", no_args_is_help=True)
app.command("text")(train_text)
