"""Generative models (text and image); they know nothing of storage or transport."""
