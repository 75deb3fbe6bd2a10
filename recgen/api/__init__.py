"""The serving API (FastAPI): feeds, generation, assets, events, experiments, health."""

from recgen.api.app import create_app

__all__ = ["create_app"]
