"""Seed fixture service `stt`."""
