"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import fastapi  # noqa: F401
import multipart  # noqa: F401
import orjson  # noqa: F401
import kafka  # noqa: F401

DISTRIBUTIONS = ['fastapi', 'kafka-python', 'orjson', 'python-multipart']


def main() -> None:
    print("api: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
