"""pybase's poetry-path fixture: a library reached by a path dependency."""

import idna

import core

MESSAGE = "hello from lib"


def greeting() -> str:
    return f"{MESSAGE} via {idna.encode('bücher.example').decode()} and {core.NAME}"
