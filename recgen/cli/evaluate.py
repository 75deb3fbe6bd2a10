"""``recgen eval``: evaluate a model (``text``; ``image`` is added by the image engine)."""

from __future__ import annotations

import typer

from recgen.cli.text import eval_text

app = typer.Typer(help="Evaluate models.", no_args_is_help=True)
app.command("text")(eval_text)
