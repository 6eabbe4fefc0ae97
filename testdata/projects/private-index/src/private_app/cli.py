"""Prints the message of the package the private index served."""

import pybase_private_demo


def main() -> None:
    print(f"private-app: {pybase_private_demo.MESSAGE}")
