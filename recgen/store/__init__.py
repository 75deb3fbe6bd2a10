"""SQL store: SQLAlchemy 2 models, engines and sessions, programmatic Alembic, and the
repositories (``repos/``: functions that take a session and never open or commit one).
Imports only recgen.core."""
