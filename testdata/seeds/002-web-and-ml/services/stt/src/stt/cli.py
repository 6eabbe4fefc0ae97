"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import multipart  # noqa: F401
import numpy  # noqa: F401
import scipy  # noqa: F401
import structlog  # noqa: F401

DISTRIBUTIONS = ['numpy', 'python-multipart', 'scipy', 'structlog']


def main() -> None:
    print("stt: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
