"""Entry point: use the locked libraries and report their versions."""

import sys
from importlib.metadata import version

import attrs
import certifi
import click
import dateutil.parser
import idna
import itsdangerous
import numpy
import packaging.version
import pyparsing
import pytz
import scipy.linalg
import six
import typing_extensions
import tzdata
import urllib3

from layered import __version__

PACKAGES = [
    "numpy", "scipy", "attrs", "certifi", "click", "idna", "itsdangerous",
    "packaging", "pyparsing", "python-dateutil", "pytz", "six",
    "typing-extensions", "tzdata", "urllib3",
]


def main() -> int:
    det = scipy.linalg.det(numpy.array([[2.0, 1.0], [1.0, 3.0]]))
    assert round(det) == 5, det
    assert idna.encode("bücher.example") == b"xn--bcher-kva.example"
    assert dateutil.parser.isoparse("2024-01-02").year == 2024
    assert packaging.version.Version("1.2") < packaging.version.Version("1.10")
    assert pytz.timezone("Europe/Paris").zone == "Europe/Paris"
    assert attrs and certifi.where() and click and itsdangerous and pyparsing
    assert six.PY3 and typing_extensions and tzdata and urllib3
    print(f"layered {__version__} ready")
    for name in PACKAGES:
        print(f"{name} {version(name)}")
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
