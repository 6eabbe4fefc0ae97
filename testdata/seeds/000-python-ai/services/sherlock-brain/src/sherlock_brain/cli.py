"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import psycopg2  # noqa: F401
import structlog  # noqa: F401

DISTRIBUTIONS = ['psycopg2', 'structlog']


def main() -> None:
    print("sherlock-brain: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
