"""pybase's setup.py fixture: a console script that proves its locked dependency works."""

import six


def main():
    print(f"legacy-greeter 1.0.0 ready with six {six.__version__}")
