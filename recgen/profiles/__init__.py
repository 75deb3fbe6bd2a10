"""Who a user is: the profile model (recency-decayed, event-weighted vectors and persona
controls), personas by k-means, the profile service (SQL + indexes, cold start) and the
rebuild of vectors, indexes, profiles and personas. Imports the layers below it
(core, store, catalog, models, retrieval)."""
