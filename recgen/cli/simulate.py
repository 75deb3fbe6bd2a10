"""``recgen simulate users``: seeded synthetic users and their events, written to the store."""

from __future__ import annotations

from typing import Annotated

import typer
from tqdm import tqdm

from recgen.cli.common import open_store
from recgen.errors import RecgenError
from recgen.simulator import Simulator, user_rows
from recgen.store.db import session_scope
from recgen.store.repository import add_interactions, iter_products, upsert_users

app = typer.Typer(help="User simulator (documented preference model, see docs/profiles.md).",
                  no_args_is_help=True)


@app.command("users")
def users_cmd(
    users: Annotated[int, typer.Option(help="How many users.")] = 1000,
    views_per_user: Annotated[float, typer.Option(help="Mean views per user (Poisson).")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same users.")] = 0,
    first_id: Annotated[int, typer.Option(help="User id of the first simulated user.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Rows per transaction.")] = 5000,
) -> None:
    """Simulate users over the loaded catalog and store them with their events (idempotent)."""
    factory = open_store()
    with session_scope(factory) as session:
        products = list(iter_products(session))
    if not products:
        raise RecgenError("the catalog is empty: run `recgen catalog load` first")
    simulator = Simulator(products, seed=seed)
    people = simulator.users(users, first_id=first_id)
    log = simulator.events(people, views_per_user=views_per_user)
    rows = user_rows(people)
    for start in tqdm(range(0, len(rows), batch_size), desc="users", unit="batch"):
        with session_scope(factory) as session:
            upsert_users(session, users=rows[start : start + batch_size])
    events = list(log.as_dicts())
    with tqdm(total=len(events), desc="events", unit="events") as bar:
        for start in range(0, len(events), batch_size):
            with session_scope(factory) as session:
                add_interactions(session, events=events[start : start + batch_size])
            bar.update(min(batch_size, len(events) - start))
    kinds = {k: int((log.kinds == k).sum()) for k in ("view", "click", "add_to_cart", "purchase")}
    typer.echo(f"simulated {len(people)} users (seed {seed}): {len(events)} events: "
                + ", ".join(f"{k}={v}" for k, v in kinds.items()))
