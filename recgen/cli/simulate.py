"""``recgen simulate users``: seeded synthetic users and their events, written to the store."""

from __future__ import annotations

from typing import Annotated

import typer
from tqdm import tqdm

from recgen.cli.common import open_store
from recgen.core.errors import RecgenError
from recgen.store.db import session_scope
from recgen.store.repos.products import iter_products

app = typer.Typer(
    help="User simulator (documented preference model, see docs/profiles.md).",
    no_args_is_help=True,
)


@app.command("users")
def users_cmd(
    users: Annotated[int, typer.Option(min=1, help="How many users.")] = 1000,
    views_per_user: Annotated[float, typer.Option(min=1.0, help="Mean views per user.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same users.")] = 0,
    first_id: Annotated[int, typer.Option(min=1, help="User id of the first simulated user.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 5000,
) -> None:
    """Simulate users over the loaded catalog and store them with their events (idempotent)."""
    from recgen.experiments.simulator import Simulator, store_population

    factory = open_store()
    with session_scope(factory) as session:
        products = list(iter_products(session))
    if not products:
        raise RecgenError("the catalog is empty: run `recgen catalog load` first")
    simulator = Simulator(products, seed=seed)
    people = simulator.users(users, first_id=first_id)
    log = simulator.events(people, views_per_user=views_per_user)
    with tqdm(total=len(people) + len(log), desc="users + events", unit="rows") as bar:
        store_population(factory, people, log, batch_size=batch_size, on_rows=bar.update)
    kinds = {k: int((log.kinds == k).sum()) for k in ("view", "click", "add_to_cart", "purchase")}
    typer.echo(
        f"simulated {len(people)} users (seed {seed}): {len(log)} events: "
        + ", ".join(f"{k}={v}" for k, v in kinds.items())
    )
