"""Repository functions, one module per table family. Each takes the session as its first
argument and keyword-only data; the caller owns the transaction."""
