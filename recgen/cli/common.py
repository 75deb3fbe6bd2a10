"""Helpers shared by CLI commands: settings, database wiring, progress."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from recgen.core.config import get_settings
from recgen.runtime.bootstrap import build_sessions


def open_store() -> sessionmaker[Session]:
    """Session factory for the configured database; fails in one line if unreachable."""
    return build_sessions(get_settings(), check=True)
