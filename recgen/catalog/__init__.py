"""The product catalog: parsing the catalog files (each bad row reported by line), loading
them into the store, and the deterministic train/validation split by id hash.
Imports recgen.core and recgen.store."""
