"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import yaml  # noqa: F401

DISTRIBUTIONS = ['pyyaml']


def main() -> None:
    print("scarlett-voice: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
