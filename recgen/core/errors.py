"""Errors that the transport layers turn into one clear line (CLI) or a 4xx/503 (API)."""

from __future__ import annotations


class RecgenError(Exception):
    """Base class: an expected failure whose message is fit to show a user."""


class DataFileError(RecgenError):
    """An input data file is missing or unreadable (the message names the file)."""


class StoreUnavailableError(RecgenError):
    """The database cannot be reached or the URL is wrong."""


class ModelLoadError(RecgenError):
    """A model artefact is missing, corrupt, or does not match its config."""


class IndexLoadError(RecgenError):
    """A vector index file is missing, corrupt, or does not match its manifest."""
