"""``recgen demo``: the main job on the embedded defaults (SQLite, in-process everything)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer
from tqdm import tqdm

from recgen.core.config import get_settings
from recgen.demo.config import DemoConfig

_DEFAULTS = DemoConfig()


def demo(
    users: Annotated[int, typer.Option(min=10, help="Simulated users.")] = _DEFAULTS.users,
    feed_users: Annotated[
        int, typer.Option(min=1, help="Users whose feeds are generated.")
    ] = _DEFAULTS.feed_users,
    products: Annotated[
        int, typer.Option(min=50, help="Catalog slice (products with photos).")
    ] = _DEFAULTS.products,
    seed: Annotated[int, typer.Option(help="Seed for the simulation and generation.")] = 0,
) -> None:
    """Run the whole pipeline on the embedded defaults and write an HTML report."""
    from recgen.demo.run import run_demo

    bars: list[tqdm[None]] = []

    def progress(stage: str, total: int) -> Callable[[int], None]:
        for previous in bars:  # one stage at a time: the earlier bar is done
            previous.close()
        bar: tqdm[None] = tqdm(total=total, desc=f"{stage:<8}", unit="it", leave=True)
        bars.append(bar)

        def advance(n: int) -> None:
            bar.update(n)

        return advance

    started = time.perf_counter()
    config = DemoConfig(
        products=products, users=users, feed_users=min(feed_users, users), seed=seed
    )
    try:
        result = run_demo(get_settings(), config, progress)
    finally:
        for bar in bars:
            bar.close()
    f = result.figures
    typer.echo(
        f"demo: {f['products']} products, {f['users']} users, {f['events']} events, "
        f"{f['personas']} personas; feeds for {config.feed_users} users "
        f"({int(f.get('feed_generated', 0))} assets generated); A/B lift "
        f"{f['ab_lift']:+.1%} [{f['ab_lift_ci'][0]:+.1%}, {f['ab_lift_ci'][1]:+.1%}] "
        f"vs true {f['ab_true_lift']:+.1%}; report {result.report_path} "
        f"({time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{k} {v}s" for k, v in result.stage_seconds.items())
        + ")"
    )
