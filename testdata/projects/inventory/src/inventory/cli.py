"""Entry point: report the service and the locked libraries it runs with."""

import sys

import psycopg2
import six

from inventory import __version__


def main() -> int:
    libpq = psycopg2.extensions.libpq_version()
    print(f"inventory {__version__} ready")
    print(f"psycopg2 {psycopg2.__version__.split()[0]} (libpq {libpq})")
    print(f"six {six.__version__}")
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
