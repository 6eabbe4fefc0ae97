"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import msgpack  # noqa: F401
import idna  # noqa: F401

DISTRIBUTIONS = ['idna', 'msgpack']


def main() -> None:
    print("api: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
