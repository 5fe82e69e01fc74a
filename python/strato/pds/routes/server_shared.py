"""What the PDS's route modules share: timestamps as the XRPC inputs and outputs write them."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_from_ms", "ms_from_iso"]


def iso_from_ms(ms: int) -> str:
    """A time in milliseconds as an atproto datetime (UTC, milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_from_iso(value: str) -> int:
    """An atproto datetime (already checked by the input type) in milliseconds."""
    return int(datetime.fromisoformat(value).timestamp() * 1000)
