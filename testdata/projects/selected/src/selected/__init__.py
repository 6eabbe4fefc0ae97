"""Prints which optional packages its venv holds."""

from importlib.util import find_spec


def main() -> None:
    for module in ("six", "yaml", "tomli_w", "iniconfig", "packaging"):
        print(f"{module}: {'yes' if find_spec(module) else 'no'}")
