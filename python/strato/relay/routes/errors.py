"""The relay's domain errors as XRPC answers: :data:`ERRORS`, the table its router is built
with (:class:`strato.xrpc.ErrorMap`), and that the ``/admin/...`` paths read the status of a
refused crawl request from. The names are the reference relay's and the lexicons'.
"""

from __future__ import annotations

from typing import Any, Final

from strato.relay.admin import HostNotFoundError
from strato.relay.host_service import (
    CrawlDisabledError,
    HostBannedError,
    HostRefusedError,
    HostUnreachableError,
    NewHostsLimitError,
)
from strato.relay.ssrf import HostnameError
from strato.relay.takedowns import UnknownAccountError
from strato.xrpc import ErrorMap

ERRORS: Final[tuple[ErrorMap[Any], ...]] = (
    ErrorMap(CrawlDisabledError, 403, "Forbidden"),
    ErrorMap(HostRefusedError, 400, "BadRequest"),
    ErrorMap(HostBannedError, 401, "HostBanned"),
    ErrorMap(HostUnreachableError, 400, "HostNotFound"),
    ErrorMap(NewHostsLimitError, 429, "RateLimitExceeded"),
    ErrorMap(
        UnknownAccountError, 400, "RepoNotFound", lambda err: f"Could not find repo for DID: {err}"
    ),
    ErrorMap(HostNotFoundError, 400, "HostNotFound", lambda err: f"Host not found: {err}"),
    ErrorMap(HostnameError, 400, "InvalidDomain"),
)
