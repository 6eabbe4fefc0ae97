"""Prints where its packages come from: the tiers' and its own."""

import attrs
import idna
import packaging
import six


def main() -> None:
    print(f"orders: six {six.__version__}, packaging {packaging.__version__}, idna {idna.__version__}, attrs {attrs.__version__}")
