"""Prints the versions of the packages its requirements include."""

import idna
import packaging
import six


def main() -> None:
    print(f"api: six {six.__version__}, packaging {packaging.__version__}, idna {idna.__version__}")
