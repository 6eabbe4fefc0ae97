"""Entry point: use numpy and report the versions."""

import sys

import numpy
import six

from twin import __version__


def main() -> int:
    squares = numpy.arange(4) ** 2
    assert squares.tolist() == [0, 1, 4, 9], squares
    report = {"twin": __version__, "numpy": numpy.__version__, "six": six.__version__}
    print(" ".join(f"{name} {value}" for name, value in report.items()), "ready")
    print("python", sys.version.split()[0], "at", sys.executable)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
