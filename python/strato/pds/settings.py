"""The PDS's settings: one frozen :class:`PdsSettings`, from command-line options or
``STRATO_PDS_*`` environment variables (:func:`settings_from_env`, on the services' one
loader :func:`strato.service.settings.load_settings`), with the defaults of a
PDS on this machine.

The service's own identity follows from ``public_url``: a PDS at ``https://pds.example.com``
is ``did:web:pds.example.com``, one at ``http://localhost:2583`` is
``did:web:localhost%3A2583`` (the port is part of a did:web's host, percent-encoded).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from strato.firehose.log import DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_BYTES
from strato.netpolicy import NetworkPolicy, parse_network
from strato.pds.blobs import DEFAULT_BLOB_LIMIT
from strato.service.limits import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
    ConnectionLimits,
    settings_limits,
)
from strato.service.settings import SIZE, Duration, load_settings

ENV_PREFIX: Final = "STRATO_PDS_"
DEFAULT_PORT: Final = 2583
DEFAULT_PLC_URL: Final = "http://localhost:2582"
DEFAULT_DATA_DIR: Final = "./strato-data/pds"


@dataclass(frozen=True)
class PdsSettings:
    """Everything a PDS is configured with. ``public_url`` defaults to
    ``http://localhost:<port>``; ``handle_domains`` are the suffixes (with their leading dot)
    under which accounts may take a handle; ``relays`` are the crawlers told about new
    commits; ``appview_url``/``appview_did`` the service ``app.bsky.*`` calls go to;
    ``admin_token_file`` holds the admin password (no file: no admin access)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    public_url: str = ""
    plc_url: str = DEFAULT_PLC_URL
    handle_domains: tuple[str, ...] = (".test",)
    relays: tuple[str, ...] = ()
    appview_url: str | None = None
    appview_did: str | None = None
    lexicon_dirs: tuple[Path, ...] = ()
    smtp_url: str | None = None
    email_from: str = "noreply@localhost"
    blob_limit: Annotated[int, SIZE] = DEFAULT_BLOB_LIMIT
    #: The firehose replay window: events older than this many hours, or beyond this many
    #: bytes of log (the oldest first), are pruned.
    event_retention_hours: Annotated[float, Duration("hours")] = DEFAULT_MAX_AGE_SECONDS / 3600
    event_retention_bytes: Annotated[int, SIZE] = DEFAULT_MAX_BYTES
    admin_token_file: Path | None = None
    invite_code_required: bool = False
    trust_proxy: int = 0
    rate_limits: bool = True
    #: Connection limits (:mod:`strato.service.limits`), gathered by :attr:`connection_limits`.
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_connections: int | None = None
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP
    #: The master key file (default: ``<data_dir>/master.key``, created on first start);
    #: ``STRATO_PDS_MASTER_KEY`` (64 hex digits) overrides it.
    master_key_file: Path | None = None
    #: A local network (``strato up``): other services are reached over plain http on
    #: loopback, and handles under the handle domains are resolved by this PDS itself.
    local_network: bool = False
    #: Networks (CIDR) other services may be reached in, whatever their kind (private...);
    #: see :mod:`strato.netpolicy`.
    allow_network: tuple[str, ...] = ()
    #: Flush every transaction to disk before answering (tests may turn it off).
    sync: bool = True

    def __post_init__(self) -> None:
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://localhost:{self.port}")
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"public URL {self.public_url!r} is not an http(s) URL")
        if parts.path or parts.query or parts.fragment:
            raise ValueError(f"public URL {self.public_url!r} must have no path")
        domains = tuple(_domain(domain) for domain in self.handle_domains)
        if not domains:
            raise ValueError("at least one handle domain is needed")
        object.__setattr__(self, "handle_domains", domains)
        if self.event_retention_hours <= 0 or self.event_retention_bytes < 1:
            raise ValueError("the event retention window must be positive")
        if self.blob_limit < 1:
            raise ValueError("the blob limit must be at least 1 byte")
        if (self.appview_url is None) != (self.appview_did is None):
            raise ValueError("give both the appview URL and the appview DID, or neither")
        object.__setattr__(self, "plc_url", _http_url("PLC directory", self.plc_url))
        object.__setattr__(self, "relays", tuple(_http_url("relay", url) for url in self.relays))
        if self.appview_url is not None:
            object.__setattr__(self, "appview_url", _http_url("appview", self.appview_url))
        if self.appview_did is not None and not self.appview_did.startswith("did:"):
            raise ValueError(f"appview DID {self.appview_did!r} is not a DID")
        if self.smtp_url is not None and urlsplit(self.smtp_url).scheme not in _SMTP_SCHEMES:
            raise ValueError(f"SMTP URL {self.smtp_url!r} is not an smtp:// or smtps:// URL")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not between 0 and 65535")
        if self.trust_proxy < 0:
            raise ValueError("the number of trusted proxies cannot be negative")
        networks = tuple(str(parse_network(text)) for text in self.allow_network)
        object.__setattr__(self, "allow_network", networks)
        settings_limits(self, self.trust_proxy)  # a ValueError for a bad connection limit

    @cached_property
    def network_policy(self) -> NetworkPolicy:
        """Where the PDS may send requests (identity and lexicon resolution, the service
        proxy, the relays' requestCrawl notices)."""
        return NetworkPolicy.from_options(
            local_network=self.local_network, allow_network=self.allow_network
        )

    @property
    def connection_limits(self) -> ConnectionLimits:
        """The server's connection limits (no per-IP cap behind trusted proxies)."""
        return settings_limits(self, self.trust_proxy)

    @property
    def hostname(self) -> str:
        """The public host, with its port when the URL has one (``localhost:2583``)."""
        return urlsplit(self.public_url).netloc.lower()

    @property
    def service_did(self) -> str:
        """The PDS's did:web."""
        return "did:web:" + self.hostname.replace(":", "%3A")

    @property
    def key_file(self) -> Path:
        """Where the master key is read from."""
        return self.master_key_file or self.data_dir / "master.key"


_SMTP_SCHEMES: Final = ("smtp", "smtps")


def _http_url(what: str, value: str) -> str:
    """``value`` without a trailing slash, or ValueError unless it is an http(s) URL."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} URL {value!r} is not an http(s) URL")
    return url


def _domain(value: str) -> str:
    domain = value.strip().lower()
    if not domain.startswith("."):
        domain = "." + domain
    if len(domain) < 2 or ".." in domain:
        raise ValueError(f"{value!r} is not a handle domain")
    return domain


def settings_from_env(environ: Mapping[str, str] = os.environ, **overrides: Any) -> PdsSettings:
    """Settings from ``STRATO_PDS_<FIELD>`` variables (``STRATO_PDS_PUBLIC_URL``,
    ``STRATO_PDS_HANDLE_DOMAINS=.test,.example.com``, ``STRATO_PDS_RELAYS``, ...), then
    ``overrides`` (options given on the command line, None meaning not given)."""
    return load_settings(PdsSettings, ENV_PREFIX, environ, **overrides)
