"""Seed fixture service `scarlett-voice`."""
