"""The demo's sizes, apart from the pipeline so that the CLI can show them as defaults
without importing the models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DemoConfig:
    products: int = 1200  # a hash-sampled slice of the products with photos
    users: int = 400  # k-means wants >= 39 points per persona
    views_per_user: float = 12.0
    feed_users: int = 60
    report_users: int = 6
    personas: int = 8
    ab_users: int = 20_000
    seed: int = 0
