"""Seed fixture service `api`."""
