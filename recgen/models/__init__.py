"""Generative models (text and image): networks, training, sampling, gates, evaluation.
They know nothing of storage, cache or transport: imports only recgen.core and
recgen.catalog."""
