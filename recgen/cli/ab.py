"""``recgen ab``: A/B experiments from the command line (simulation, exposure drain)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from tqdm import tqdm

from recgen.catalog.styles import read_styles
from recgen.cli.common import open_store
from recgen.core.config import get_settings
from recgen.core.errors import DataFileError
from recgen.core.keys import exposure_stream
from recgen.experiments.exposures import ExposureDrainer
from recgen.store.db import check_connection, make_engine, session_factory
from recgen.store.migrate import upgrade

app = typer.Typer(help="A/B tests of generated vs stock content.", no_args_is_help=True)


def _print_report(result: dict[str, Any]) -> None:
    for name, arm in result["arms"].items():
        typer.echo(
            f"  {name:<9} users={arm['users']:>6} exposures={arm['exposures']:>7} "
            f"ctr={arm['ctr']:.4f} add_to_cart={arm['add_to_cart_rate']:.4f} "
            f"conversion={arm['conversion_rate']:.4f}"
        )
    cuped = result["cuped"] or {}
    srm = "FLAGGED" if result["srm_flagged"] else "ok"
    typer.echo(
        f"  CTR lift {result['lift']:+.2%} [{result['lift_ci_low']:+.2%}, "
        f"{result['lift_ci_high']:+.2%}] p={result['p_value']:.3g} "
        f"(true lift {result['true_lift']:+.2%})"
    )
    typer.echo(
        f"  CUPED lift {cuped.get('lift', float('nan')):+.2%} "
        f"(variance -{cuped.get('variance_reduction', 0.0):.1%}); "
        f"SRM p={result['srm_p_value']:.3g} {srm}"
    )


@app.command("simulate")
def simulate_cmd(
    json_out: Annotated[Path, typer.Option("--json", help="Write the result JSON here.")],
    users: Annotated[int, typer.Option(min=10, help="Simulated users.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same experiment.")] = 0,
    exposures_per_user: Annotated[float, typer.Option(min=1.0, help="Mean items shown.")] = 8.0,
    traffic_share: Annotated[float, typer.Option(min=0.01, max=1.0)] = 1.0,
    database_url: Annotated[
        str | None,
        typer.Option(help="Store to run in (default: a temporary SQLite database)."),
    ] = None,
) -> None:
    """Run a generated-vs-stock experiment end to end on simulated users and print the report."""
    from recgen.experiments.simulation import run_in_store
    from recgen.experiments.simulator import Simulator

    settings = get_settings()
    styles = settings.data_dir / "myntra" / "styles.csv"
    if not styles.is_file():
        raise DataFileError(f"no catalog at {styles}: set RECGEN_DATA_DIR (see README 'Data')")
    started = time.perf_counter()
    products = read_styles(styles).products
    with tempfile.TemporaryDirectory(prefix="recgen-ab-") as tmp:
        url = database_url or f"sqlite:///{tmp}/ab.db"
        check_connection(make_engine(url))
        upgrade(url)
        sessions = session_factory(make_engine(url))
        with tqdm(total=users, desc="users", unit="users") as bar:
            result = run_in_store(
                sessions,
                Simulator(products, seed=seed),
                products,
                users=users,
                seed=seed,
                exposures_per_user=exposures_per_user,
                traffic_share=traffic_share,
                on_user=lambda: bar.update(1),
            )
    result["seed"] = seed
    result["database"] = "temporary sqlite" if database_url is None else "given"
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    _print_report(result)
    typer.echo(
        f"ab simulate: {users} users, seed {seed}, {time.perf_counter() - started:.1f}s; "
        f"wrote {json_out}"
    )


@app.command("drain")
def drain_cmd(
    follow: Annotated[
        bool, typer.Option(help="Keep draining (a sidecar of the API; see docs/api.md).")
    ] = False,
) -> None:
    """Move pending exposures from the Redis stream to SQL (once, or forever with --follow)."""
    from recgen.runtime.bootstrap import build_redis

    settings = get_settings()
    drainer = ExposureDrainer(
        build_redis(settings),
        open_store(),
        stream=exposure_stream(settings),
        batch=settings.exposure_drain_batch,
    )
    written = drainer.drain_all()
    while follow:
        entries, rows = drainer.drain_once()
        written += rows
        if entries < settings.exposure_drain_batch:
            time.sleep(settings.exposure_drain_interval_seconds)
    typer.echo(f"ab drain: {written} exposure rows written")
