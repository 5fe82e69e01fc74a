"""Connection limits of every listener: how long a client may take to send a request head, how
long a kept-alive connection may stay idle, and how many connections a server holds at once, in
all and from one client address.

Owns :class:`ConnectionLimits` (each server's ``--header-timeout``, ``--keepalive-timeout``,
``--max-connections`` and ``--max-connections-per-ip``, also read from ``STRATO_<SERVICE>_*``
variables by :func:`limits_from_env` and :func:`parse_setting`), :class:`ConnectionGuard` (one
server's count of the connections it holds, which admits or refuses each new one), the bytes of
a refusal, and the process's open-file limit (:func:`connection_share`). The listeners apply
them: uvicorn's HTTP protocol (:mod:`strato.service.protocol`) and the relay's fan-out workers
(:mod:`strato.firehose.fanout.server`).

- The request head must be complete within ``header_timeout`` of the connection's accept or, on
  a kept-alive connection, of the first byte after the previous response: bytes trickling in do
  not extend it. A connection that does not make it is closed, counted as ``header_timeout``.
  A head longer than 64 KiB gets a 431 and its connection is closed (``head_too_large``).
- A kept-alive connection idle for ``keepalive_timeout`` after a response is closed, and so is
  one that sends nothing for as long while its request's body is awaited (counted as
  ``body_timeout``).
- A connection over a cap is refused at once: a 503 ``NotEnoughResources`` with ``Retry-After``
  and ``Connection: close`` is written without waiting, and the connection closed; counted by
  reason, ``max_connections`` or ``max_connections_per_ip``. A WebSocket counts while it is open.
- ``max_connections`` not given: half the open-file limit (``RLIMIT_NOFILE``, its soft limit
  raised to the hard limit at start), shared evenly by the servers of the process; the other
  half is for LMDB, blob files, outbound connections (a relay's upstream hosts) and logs.
- ``max_connections_per_ip`` 0: no per-address cap (the servers set it so behind a reverse
  proxy, ``--trust-proxy``, where every connection comes from the proxy's address). IPv4
  clients of a dual-stack listener count under their IPv4 address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import resource
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Protocol

DEFAULT_HEADER_TIMEOUT: Final = 10.0
#: Longer than the idle time after which reverse proxies (nginx: 60 s) and load balancers (60 s)
#: drop their own kept-alive upstream connections, so that a proxy never sends a request on a
#: connection this server is closing.
DEFAULT_KEEPALIVE_TIMEOUT: Final = 75.0
#: Room for one address's firehose consumers and a busy client's connection pool.
DEFAULT_MAX_CONNECTIONS_PER_IP: Final = 256
#: The settings, by their field names (``--header-timeout``, ``STRATO_PDS_HEADER_TIMEOUT``...).
CONNECTION_SETTINGS: Final = (
    "header_timeout", "keepalive_timeout", "max_connections", "max_connections_per_ip",
)  # fmt: skip
#: Seconds a refused client is asked to wait before trying again.
RETRY_AFTER: Final = 10
#: Refusal reasons, the ``reason`` label of the refused-connections counters.
MAX_CONNECTIONS: Final = "max_connections"
MAX_CONNECTIONS_PER_IP: Final = "max_connections_per_ip"
HEADER_TIMEOUT: Final = "header_timeout"
BODY_TIMEOUT: Final = "body_timeout"
HEAD_TOO_LARGE: Final = "head_too_large"
#: A request head (its line and headers) longer than this is answered 431 and its connection
#: closed: uvicorn's httptools protocol sets no bound of its own.
MAX_REQUEST_HEAD: Final = 64 * 1024

_REFUSAL_BODY: Final = json.dumps(
    {"error": "NotEnoughResources", "message": "too many connections; try again later"}
).encode()
#: The whole answer to a connection over a cap, written before anything is read from it.
REFUSAL: Final = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    f"Content-Length: {len(_REFUSAL_BODY)}\r\n"
    f"Retry-After: {RETRY_AFTER}\r\n"
    "Connection: close\r\n\r\n"
).encode() + _REFUSAL_BODY


_HEAD_TOO_LARGE_BODY: Final = json.dumps(
    {"error": "InvalidRequest", "message": "request head too large"}
).encode()
#: The whole answer to a request whose head passes :data:`MAX_REQUEST_HEAD`.
HEAD_TOO_LARGE_ANSWER: Final = (
    "HTTP/1.1 431 Request Header Fields Too Large\r\n"
    "Content-Type: application/json\r\n"
    f"Content-Length: {len(_HEAD_TOO_LARGE_BODY)}\r\n"
    "Connection: close\r\n\r\n"
).encode() + _HEAD_TOO_LARGE_BODY


@dataclass(frozen=True)
class ConnectionLimits:
    """A server's connection limits (see the module's docstring). ``max_connections`` None: a
    share of the open-file limit, fixed when the server starts (:meth:`resolved`)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_connections: int | None = None
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP

    def __post_init__(self) -> None:
        for name in ("header_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                what = name.replace("_", " ")
                raise ValueError(f"the {what} must be a positive number of seconds, not {value}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max connections must be at least 1, not {self.max_connections}")
        if self.max_connections_per_ip < 0:
            raise ValueError(
                f"max connections per IP must be 0 (no cap) or more, not "
                f"{self.max_connections_per_ip}"
            )

    def resolved(self, share: int) -> ConnectionLimits:
        """These limits with ``max_connections`` set: ``share`` unless given."""
        return self if self.max_connections is not None else replace(self, max_connections=share)


def settings_limits(settings: object, trust_proxy: int) -> ConnectionLimits:
    """The limits in a server's settings (fields named as in :data:`CONNECTION_SETTINGS`).
    Behind trusted reverse proxies (``trust_proxy`` > 0) there is no per-IP cap: every
    connection comes from a proxy's address."""
    limits = ConnectionLimits(**{name: getattr(settings, name) for name in CONNECTION_SETTINGS})
    return replace(limits, max_connections_per_ip=0) if trust_proxy > 0 else limits


def parse_setting(name: str, raw: str, variable: str) -> float | int:
    """The setting ``name`` (one of :data:`CONNECTION_SETTINGS`) from the text of ``variable``."""
    if name.endswith("_timeout"):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a number of seconds") from None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{variable} must be an integer") from None


def limits_from_env(prefix: str, environ: Mapping[str, str], **overrides: Any) -> ConnectionLimits:
    """Limits from ``<prefix><SETTING>`` variables (``STRATO_PLC_HEADER_TIMEOUT``...), then
    ``overrides`` (options given on the command line, None meaning not given)."""
    values: dict[str, Any] = {}
    for name in CONNECTION_SETTINGS:
        variable = prefix + name.upper()
        raw = environ.get(variable)
        if raw is not None:
            values[name] = parse_setting(name, raw, variable)
    values.update({name: value for name, value in overrides.items() if value is not None})
    return ConnectionLimits(**values)


def connection_share(servers: int) -> int:
    """The default ``max_connections`` of each of the process's ``servers`` servers: half the
    open-file limit (raised first to its hard limit), shared evenly."""
    return max(1, raise_open_file_limit() // 2 // max(1, servers))


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one, and return the soft limit in force. The
    servers wait on epoll, never on select(), so descriptors above 1024 are safe; a refusal
    (a sandbox) leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


class ConnectionMetrics(Protocol):
    """Where a guard reports (``strato.service.metrics.ServerMetrics``, the fan-out's metrics)."""

    def connections_held(self, count: int) -> None:
        """The number of connections the server now holds."""

    def connection_refused(self, reason: str) -> None:
        """One connection refused or closed before its request, by reason."""


class ConnectionGuard:
    """The connections one server holds, by client address. :meth:`admit` gives a new
    connection its :class:`Slot`, or None when a cap is reached (the refusal counted); the
    slot is released when the connection ends."""

    def __init__(
        self,
        max_connections: int,
        max_connections_per_ip: int,
        metrics: ConnectionMetrics | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.max_connections_per_ip = max_connections_per_ip
        self.metrics = metrics
        self.held = 0
        self._by_address: Counter[str] = Counter()

    def admit(self, address: str) -> Slot | None:
        """A slot for a connection from ``address`` (its host, "" when unknown), or None."""
        if self.held >= self.max_connections:
            self.refuse(MAX_CONNECTIONS)
            return None
        key = client_group(address)
        per_ip = self.max_connections_per_ip
        if per_ip and self._by_address[key] >= per_ip:
            self.refuse(MAX_CONNECTIONS_PER_IP)
            return None
        self._by_address[key] += 1
        self._held(+1)
        return Slot(self, key)

    def refuse(self, reason: str) -> None:
        """Count a connection refused (or closed before its request) for ``reason``."""
        if self.metrics is not None:
            self.metrics.connection_refused(reason)

    def _release(self, key: str) -> None:
        self._by_address[key] -= 1
        if not self._by_address[key]:
            del self._by_address[key]
        self._held(-1)

    def _held(self, change: int) -> None:
        self.held += change
        if self.metrics is not None:
            self.metrics.connections_held(self.held)


class Slot:
    """An admitted connection's place in its guard's counts, given back by :meth:`release`
    (once, however many times it is called)."""

    __slots__ = ("_guard", "_key")

    def __init__(self, guard: ConnectionGuard, key: str) -> None:
        self._guard: ConnectionGuard | None = guard
        self._key = key

    def release(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            guard._release(self._key)


def client_group(address: str) -> str:
    """What the per-IP cap counts ``address`` under: an IPv4 address (IPv4-mapped ones too) on
    its own, an IPv6 address by its /64, the smallest network a host is given (one client
    holds all of it); anything else as it is."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def peer_address(peername: object) -> str:
    """The host of a transport's ``peername`` (a tuple for TCP), "" for anything else."""
    if isinstance(peername, tuple) and peername and isinstance(peername[0], str):
        return peername[0]
    return ""
