"""pybase's workspace fixture: a service whose code uses another member."""

import six

import lib


def main() -> None:
    print(f"api: {lib.greeting()} (six {six.__version__})")
