"""The relay's settings: one frozen :class:`RelaySettings`, from command-line options or
``STRATO_RELAY_*`` environment variables (:func:`settings_from_env`, on the services' one
loader :func:`strato.service.settings.load_settings`).

Verification is strict by default. ``lenient`` relaxes every relaxable sync 1.1 check;
``policy`` sets single checks (``{"rev_in_future": False}`` makes only that one lenient) and
wins over ``lenient``. Its keys are :data:`strato.sync.RELAXABLE` values; the policy file
(``--policy-file``) is a JSON object of them. The two are built once into
:attr:`RelaySettings.verify_policy`, the one :class:`strato.sync.VerifyPolicy` that ingest and
resync both verify with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from strato.netpolicy import NetworkPolicy, parse_network
from strato.service.limits import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
    ConnectionLimits,
    settings_limits,
)
from strato.service.settings import SIZE, Duration, load_settings
from strato.sync import VerifyPolicy

ENV_PREFIX: Final = "STRATO_RELAY_"
DEFAULT_PORT: Final = 2584
DEFAULT_PLC_URL: Final = "https://plc.directory"
DEFAULT_DATA_DIR: Final = "./strato-data/relay"
#: The replay window: 72 hours, at most 20 GB of frames (72 h of the whole network is ~0.5 TB,
#: so on a busy relay the byte cap is the one that bites).
DEFAULT_RETENTION_HOURS: Final = 72.0
DEFAULT_RETENTION_BYTES: Final = 20_000_000_000
#: Accounts a new host may have before the next ones are throttled (the reference's default).
DEFAULT_ACCOUNT_LIMIT: Final = 100
DEFAULT_NEW_HOSTS_PER_DAY: Final = 50
#: One fan-out worker: every subscriber is served by the Rust frame writer, off the ingest
#: process's core; measured on 2 cores, a second worker added nothing (benches/README.md).
DEFAULT_WORKERS: Final = 1
#: Events a subscriber may lag behind the log before it is cut with ``ConsumerTooSlow``: about
#: five seconds of the whole network at its peak. Ingest commits in batches of up to a thousand
#: events, so a bound near that cuts every subscriber at the first burst. The fan-out serves a
#: subscriber that falls behind from the log, so its lag costs no memory.
DEFAULT_CONSUMER_BUFFER: Final = 50_000


@dataclass(frozen=True)
class RelaySettings:
    """Everything a relay is configured with. ``public_url`` defaults to
    ``http://localhost:<port>``; ``crawl`` are hosts subscribed to at start; ``admin_token_file``
    holds the admin password (no file: no admin access)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    public_url: str = ""
    plc_url: str = DEFAULT_PLC_URL
    #: Loopback upstreams allowed, a port in a requestCrawl hostname, plain http/ws to them
    #: (``strato up``); see :mod:`strato.netpolicy`.
    local_network: bool = False
    #: Networks (CIDR) whose addresses upstreams may have, whatever their kind (private...).
    allow_network: tuple[str, ...] = ()
    #: Hosts trusted (higher rate limits, no account limit) when added and at every start:
    #: ``pds.example.com`` (any port), ``localhost:2583`` (that port), ``*.example.com``
    #: (every name under it).
    trusted_domains: tuple[str, ...] = ()
    lenient: bool = False
    policy: Mapping[str, bool] = field(default_factory=dict)
    crawl: tuple[str, ...] = ()
    admin_token_file: Path | None = None
    event_retention_hours: Annotated[float, Duration("hours")] = DEFAULT_RETENTION_HOURS
    event_retention_bytes: Annotated[int, SIZE] = DEFAULT_RETENTION_BYTES
    default_account_limit: int = DEFAULT_ACCOUNT_LIMIT
    new_hosts_per_day: int = DEFAULT_NEW_HOSTS_PER_DAY
    #: Whether public ``requestCrawl`` adds hosts (admins can always add them).
    crawl_enabled: bool = True
    #: Fan-out worker processes serving ``subscribeRepos`` beside the main process (0: the
    #: fan-out runs in the main process); run by the command's service
    #: (:func:`strato.relay.service.relay_service`), not by the app.
    workers: int = DEFAULT_WORKERS
    consumer_buffer: int = DEFAULT_CONSUMER_BUFFER
    trust_proxy: int = 0
    #: Connection limits (:mod:`strato.service.limits`), gathered by :attr:`connection_limits`.
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_connections: int | None = None
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP
    #: Flush every transaction to disk before acknowledging (tests may turn it off).
    sync: bool = True
    #: ``lenient`` and ``policy`` as the verifier takes them, built once (not a setting).
    verify_policy: VerifyPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://localhost:{self.port}")
        object.__setattr__(self, "public_url", _http_url("public", self.public_url))
        object.__setattr__(self, "plc_url", _http_url("PLC directory", self.plc_url))
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not between 0 and 65535")
        if self.event_retention_hours <= 0 or self.event_retention_bytes < 1:
            raise ValueError("the event retention window must be positive")
        if self.default_account_limit < 0 or self.new_hosts_per_day < 0:
            raise ValueError("host limits cannot be negative")
        if self.workers < 0 or self.trust_proxy < 0:
            raise ValueError("workers and trusted proxies cannot be negative")
        settings_limits(self, self.trust_proxy)  # a ValueError for a bad connection limit
        if self.consumer_buffer < 1:
            raise ValueError("the consumer buffer must hold at least one event")
        policy = dict(self.policy)
        object.__setattr__(
            self, "verify_policy", VerifyPolicy(strict=not self.lenient, checks=policy)
        )
        object.__setattr__(self, "policy", policy)
        domains = tuple(domain.strip().lower() for domain in self.trusted_domains)
        if any(not domain or "/" in domain for domain in domains):
            raise ValueError(f"trusted domains {self.trusted_domains!r} must be host names")
        object.__setattr__(self, "trusted_domains", domains)
        networks = tuple(str(parse_network(text)) for text in self.allow_network)
        object.__setattr__(self, "allow_network", networks)

    @cached_property
    def network_policy(self) -> NetworkPolicy:
        """Where the relay may connect (crawler, requestCrawl checks, repairs, identity)."""
        return NetworkPolicy.from_options(
            local_network=self.local_network, allow_network=self.allow_network
        )

    @property
    def connection_limits(self) -> ConnectionLimits:
        """The server's connection limits (no per-IP cap behind trusted proxies)."""
        return settings_limits(self, self.trust_proxy)

    @property
    def hostname(self) -> str:
        """The public host, with its port when the URL has one."""
        return urlsplit(self.public_url).netloc.lower()


def _http_url(what: str, value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} URL {value!r} is not an http(s) URL")
    if parts.path or parts.query or parts.fragment:
        raise ValueError(f"{what} URL {value!r} must have no path")
    return url


def load_policy(path: Path) -> dict[str, bool]:
    """A policy file: a JSON object of check names to true (strict) or false (lenient)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the policy file {path}: {err}") from err
    if not isinstance(value, dict):
        raise ValueError(f"the policy file {path} must hold a JSON object")
    return value


def settings_from_env(environ: Mapping[str, str] = os.environ, **overrides: Any) -> RelaySettings:
    """Settings from ``STRATO_RELAY_<FIELD>`` variables (``STRATO_RELAY_PLC_URL``,
    ``STRATO_RELAY_CRAWL=pds1.example.com,pds2.example.com``, ``STRATO_RELAY_POLICY_FILE``...),
    then ``overrides`` (options given on the command line, None meaning not given)."""
    policy_file = environ.get(ENV_PREFIX + "POLICY_FILE")
    if policy_file:
        given = {name: value for name, value in overrides.items() if value is not None}
        overrides = {"policy": load_policy(Path(policy_file)), **given}
    return load_settings(RelaySettings, ENV_PREFIX, environ, **overrides)
