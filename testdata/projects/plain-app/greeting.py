"""A module next to app.py, imported from the workdir."""


def greeting() -> str:
    return "plain-app ready"
