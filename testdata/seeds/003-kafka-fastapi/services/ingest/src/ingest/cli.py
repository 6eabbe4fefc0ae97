"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import kafka  # noqa: F401
import tenacity  # noqa: F401
import orjson  # noqa: F401

DISTRIBUTIONS = ['kafka-python', 'orjson', 'tenacity']


def main() -> None:
    print("ingest: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
