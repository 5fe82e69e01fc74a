"""What the ``com.atproto.server.*`` route modules share: timestamps as the inputs and outputs
write them, and :func:`email_token` (of :mod:`strato.pds.email_flows`) for the route modules
outside the namespace that email a code."""

from __future__ import annotations

from datetime import UTC, datetime

from strato.pds.email_flows import email_token

__all__ = ["email_token", "iso_from_ms", "ms_from_iso"]


def iso_from_ms(ms: int) -> str:
    """A time in milliseconds as an atproto datetime (UTC, milliseconds, ``Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_from_iso(value: str) -> int:
    """An atproto datetime (already checked by the input type) in milliseconds."""
    return int(datetime.fromisoformat(value).timestamp() * 1000)
