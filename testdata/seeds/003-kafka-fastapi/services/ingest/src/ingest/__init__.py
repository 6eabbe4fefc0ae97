"""Seed fixture service `ingest`."""
