"""Seed fixture service `training`."""
