"""pybase's poetry-path fixture: a service whose code uses a path dependency."""

import six

import lib


def main() -> None:
    print(f"app: {lib.greeting()} (six {six.__version__})")
