"""Retrieval: FAISS indexes with SQL-id maps, item vectors, and the one candidates path
(nearest items to a profile, blended with popularity, with exclusions).
Imports recgen.core, recgen.store, recgen.catalog and recgen.models."""
