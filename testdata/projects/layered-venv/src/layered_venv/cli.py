"""Entry point: use a module of every distribution that shares a path."""

import sys
from importlib import metadata

import docutils
import jaraco.classes.properties
import jaraco.context
import jaraco.functools
import jaraco.text
import markdown_it
import pygments

from layered_venv import __version__


def main() -> int:
    html = markdown_it.MarkdownIt().render("*layered*")
    words = jaraco.text.lorem_ipsum.split()[:2]
    shim = any(type(f).__name__ == "DistutilsMetaFinder" for f in sys.meta_path)
    print(f"layered-venv {__version__} ready")
    print(f"markdown: {html.strip()}")
    print(f"jaraco: {' '.join(words)} ({jaraco.functools.__name__}, {jaraco.context.__name__}, {jaraco.classes.properties.__name__})")
    print(f"pygments {pygments.__version__}, docutils {docutils.__version__}, mdurl {metadata.version('mdurl')}")
    print(f"distutils shim: {shim}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
