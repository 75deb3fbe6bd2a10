"""Scratch PostgreSQL databases: each test session, test or benchmark run that stores anything
gets a database of its own on the shared server, so concurrent runs never see each other's
rows, and drops it afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(admin_url: str, *, tag: str) -> Iterator[str]:
    """The URL of a new, empty database on ``admin_url``'s server, dropped on exit (connections
    and all). It is named ``recgen_<tag>_<hex>``, so a leftover one says which kind of run
    made it."""
    name = f"recgen_{tag}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
