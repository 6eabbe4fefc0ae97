"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import numpy  # noqa: F401
import msgpack  # noqa: F401
import six  # noqa: F401

DISTRIBUTIONS = ['msgpack', 'numpy', 'six']


def main() -> None:
    print("ai: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
