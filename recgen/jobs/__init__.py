"""The background jobs, independent of transport (Celery tasks and the in-process executor
run the same functions), their context and their task names. Imports generation, profiles
and the layers below them."""
