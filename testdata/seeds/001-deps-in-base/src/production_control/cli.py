"""Imports what it needs (from its tiers and its own venv) and says which versions it got."""

from importlib.metadata import version

import jinja2  # noqa: F401
import dateutil  # noqa: F401
import markupsafe  # noqa: F401

DISTRIBUTIONS = ['jinja2', 'markupsafe', 'python-dateutil']


def main() -> None:
    print("production-control: " + ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS))
