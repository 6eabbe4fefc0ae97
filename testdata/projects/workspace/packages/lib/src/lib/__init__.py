"""pybase's workspace fixture: a library member."""

import idna

MESSAGE = "hello from lib"


def greeting() -> str:
    return f"{MESSAGE} via {idna.encode('bücher.example').decode()}"
