"""The relay's admin password check, for the admin XRPC methods, the ``/admin/...`` paths and
the admin page's calls: :func:`admin_verifier` and :func:`is_admin`.

The password (from ``--admin-token-file``) is accepted both as ``Authorization: Bearer
<token>`` and as HTTP Basic ``admin:<token>``: the reference relay takes only Basic, and
``goat`` sends Basic when given ``--admin-password``, Bearer when given
``--admin-bearer-token``. Anything else (no header, another scheme, a malformed header, another
user, a wrong password, or a relay without an admin password) is a 401: on the reference's
``/admin/...`` paths with ``WWW-Authenticate: Basic``, as the reference answers; on the XRPC
methods an ``AuthenticationRequired`` without that challenge (as the PDS's admin methods
answer), so a browser running the admin page never opens its own password prompt over the
page. Tokens are compared in constant time.
"""

from __future__ import annotations

import base64
import hmac
from typing import Final

from starlette.requests import HTTPConnection, Request

from strato.xrpc.auth import AdminCredentials, Verifier
from strato.xrpc.errors import XrpcError

CHALLENGE: Final = {"WWW-Authenticate": 'Basic realm="admin"'}


def presented_token(connection: HTTPConnection) -> str | None:
    """The admin password a request presents (Bearer, or Basic with user ``admin``)."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII text, not UTF-8 once decoded
        return None
    user, colon, password = decoded.partition(":")
    return password if colon and user == "admin" else None


def is_admin(connection: HTTPConnection, expected: str | None) -> bool:
    """Whether the request carries the admin password ``expected`` (None: no admin access)."""
    given = presented_token(connection)
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def auth_error() -> XrpcError:
    return XrpcError(401, "AuthenticationRequired", "Admin authentication required")


def admin_verifier(expected: str | None) -> Verifier:
    """The XRPC router's check for the admin methods."""

    async def verify(request: Request, nsid: str) -> AdminCredentials:
        if not is_admin(request, expected):
            raise auth_error()
        return AdminCredentials()

    return Verifier(verify, frozenset({"admin"}))
