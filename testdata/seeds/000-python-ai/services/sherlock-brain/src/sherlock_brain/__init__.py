"""Seed fixture service `sherlock-brain`."""
