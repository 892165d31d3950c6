"""Pipelines: load a model by short name or hub id with clear errors, pick a scheduler,
generate seeded images, check a request before it runs (chapters 01, 02 and every CLI)."""
