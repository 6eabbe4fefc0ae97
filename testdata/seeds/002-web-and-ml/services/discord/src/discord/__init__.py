"""Seed fixture service `discord`."""
