"""What every command shares for its input and output: stdin read as bytes, text written to
stdout as UTF-8 whatever the locale, and :class:`CliError`, a problem with the user's input that
``strato.cli.main`` prints as one line."""

from __future__ import annotations

import sys


class CliError(Exception):
    """A problem with the user's input that is not a decoding error (for example a CAR whose
    blocks do not match their hashes). Its message is printed after ``strato: error:``."""


def read_stdin() -> bytes:
    """All of stdin, as bytes."""
    return sys.stdin.buffer.read()


def write_text(text: str) -> None:
    """Write ``text`` to stdout as UTF-8, whatever the locale's encoding."""
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()
