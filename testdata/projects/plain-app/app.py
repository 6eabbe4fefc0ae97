"""An application, not a package: a directory of code with a requirements.txt
and no pyproject.toml, run as `python app.py` in the image's workdir."""

import os
import sys

import six

from greeting import greeting

print(f"{greeting()} with six {six.__version__} at {sys.executable} in {os.getcwd()}")
