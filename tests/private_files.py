"""Checking that what strato writes is private: the process umask set for a block, the paths of
a tree whose mode is not owner-only (directories 0700, other files 0600), a tree opened up as
an older strato (or a ``cp -r``) would have left it, and the forms an emailed code could take
in a file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The umasks tests run under: none at all, and the usual one.
UMASKS = (0o000, 0o022)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """This process's umask is ``mask`` inside the block."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def not_private(root: Path) -> dict[str, str]:
    """Every path under ``root`` (itself included) whose mode is not 0700 for a directory or
    0600 for anything else, with its mode in octal."""
    found = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            found[str(path)] = f"{mode:o}"
    return found


def loosen(root: Path) -> int:
    """Open ``root`` and everything under it to every user (directories 0755, files 0644);
    how many paths."""
    paths = [root, *root.rglob("*")]
    for path in paths:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return len(paths)


def code_forms(code: str) -> list[bytes]:
    """Every way an emailed code could sit in a file: as written, without its dash, in either
    case, and the unkeyed SHA-256 of each (raw and hex), alone or after its purpose."""
    texts = {form for plain in (code, code.replace("-", "")) for form in (plain, plain.lower())}
    found = []
    for text in texts:
        found.append(text.encode())
        for message in (text.encode(), b"reset_password\x00" + text.encode()):
            digest = hashlib.sha256(message)
            found += [digest.digest(), digest.hexdigest().encode()]
    return found


def files_holding(root: Path, forms: list[bytes]) -> list[str]:
    """The files under ``root`` that contain any of ``forms``."""
    return [
        str(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and any(form in path.read_bytes() for form in forms)
    ]
