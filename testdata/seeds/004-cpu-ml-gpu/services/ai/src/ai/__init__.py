"""Seed fixture service `ai`."""
