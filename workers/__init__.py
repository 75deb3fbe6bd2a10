"""Celery workers: ``celery -A workers.app worker`` (or ``recgen worker``). Thin tasks only."""
