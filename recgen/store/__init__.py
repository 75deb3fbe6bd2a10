"""SQL store: typed ORM models and repository functions that take a session."""
