"""The PLC directory's settings: one frozen :class:`PlcSettings`, from command-line options or
``STRATO_PLC_*`` environment variables (:func:`settings_from_env`, on the services' one loader
:func:`strato.service.settings.load_settings`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from strato.service.limits import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
    ConnectionLimits,
    settings_limits,
)
from strato.service.settings import load_settings

ENV_PREFIX: Final = "STRATO_PLC_"
DEFAULT_HOST: Final = "127.0.0.1"
#: The reference directory's default port (did-method-plc ``packages/server/src/bin.ts``).
DEFAULT_PORT: Final = 2582
DEFAULT_DATA_DIR: Final = "./strato-data/plc"


@dataclass(frozen=True)
class PlcSettings:
    """What the directory needs: where its data lives, whether to flush every write to disk
    before answering (``sync``; tests may turn it off), whether to apply the reference's
    per-DID rate limits (``rate_limits``, off by default: see :mod:`strato.plc.limits`), and
    where and how it listens."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    sync: bool = True
    rate_limits: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: Connection limits (:mod:`strato.service.limits`), gathered by :attr:`connection_limits`.
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_connections: int | None = None
    max_connections_per_ip: int = DEFAULT_MAX_CONNECTIONS_PER_IP

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not between 0 and 65535")
        settings_limits(self, 0)  # a ValueError for a bad connection limit

    @property
    def connection_limits(self) -> ConnectionLimits:
        """The server's connection limits."""
        return settings_limits(self, 0)


def settings_from_env(environ: Mapping[str, str] = os.environ, **overrides: Any) -> PlcSettings:
    """Settings from ``STRATO_PLC_<FIELD>`` variables (``STRATO_PLC_DATA_DIR``,
    ``STRATO_PLC_RATE_LIMITS=true``, ...), then ``overrides`` (options given on the command
    line, None meaning not given)."""
    return load_settings(PlcSettings, ENV_PREFIX, environ, **overrides)
