"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import scipy  # noqa: F401
import numpy  # noqa: F401
import packaging  # noqa: F401

DISTRIBUTIONS = ['numpy', 'packaging', 'scipy']


def main() -> None:
    print("training: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
