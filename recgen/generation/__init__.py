"""Generation: the GenerationEngine (its models are passed in; it never reads settings), the
asset cache (Redis or in-process) and the feeds it holds. Imports the layers below it (core,
store, catalog, models, retrieval, profiles)."""
