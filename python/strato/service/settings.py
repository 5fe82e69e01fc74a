"""What every service's settings share: reading a size given as text, the form of the size
options (``--blob-limit``, ``--event-retention-bytes``) and of their ``STRATO_<SERVICE>_*``
variables. A service's own settings live in its package (``pds/settings.py``,
``relay/settings.py``); what more than one service reads lives here, so no service imports
another for it."""

from __future__ import annotations

import re
from typing import Final

_SIZE_RE: Final = re.compile(r"(\d+)\s*(b|kb|kib|k|mb|mib|m|gb|gib|g)?", re.IGNORECASE)
_SIZE_UNITS: Final = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """A size in bytes from ``123``, ``512kB``, ``100MB``, ``2GiB``... (units are powers of
    1024 whether written kB or KiB, so ``100MB`` is the default blob limit)."""
    found = _SIZE_RE.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a size (such as 5000000, 512kB, 100MB or 1GB)")
    unit = (found.group(2) or "b")[0].lower()
    return int(found.group(1)) * _SIZE_UNITS[unit]
