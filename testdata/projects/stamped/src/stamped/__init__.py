"""Prints the version its installed metadata records."""

from importlib.metadata import version


def main() -> None:
    print(f"stamped {version('stamped')}")
