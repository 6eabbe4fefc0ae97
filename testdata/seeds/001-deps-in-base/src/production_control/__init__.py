"""Seed fixture service `production-control`."""
