"""The serving API (FastAPI): feeds, generation, assets, events, experiments, health.
Thin routes, services for the logic, schemas as the contract. Imports runtime and the layers
below; never the demo or the CLI."""

from recgen.api.app import create_app

__all__ = ["create_app"]
