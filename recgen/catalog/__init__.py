"""The product catalog: parsing the catalog files (each bad row reported by line), cleaning the
shop's copy (body, sections, facts, consistency with the attributes), loading them into the
store, and the deterministic train/validation split by id hash.
Imports recgen.core and recgen.store (only ingest.py, the loader, imports the store)."""
