"""Helpers shared by CLI commands: settings, database wiring, progress."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from recgen.core.config import get_settings
from recgen.store.db import check_connection, make_engine, session_factory


def open_store() -> sessionmaker[Session]:
    """Session factory for the configured database; fails in one line if unreachable."""
    engine = make_engine(get_settings().database_url)
    check_connection(engine)
    return session_factory(engine)
