"""Prints where its packages come from: the tier's and its own."""

from importlib.metadata import version

import iniconfig  # noqa: F401  (its own package, installed in the service's venv)
import packaging
import six


def main() -> None:
    print(f"billing: six {six.__version__}, packaging {packaging.__version__}, iniconfig {version('iniconfig')}")
