"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import nacl  # noqa: F401
import httpx  # noqa: F401
import pydantic  # noqa: F401

DISTRIBUTIONS = ['httpx', 'pydantic', 'pynacl']


def main() -> None:
    print("discord: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
