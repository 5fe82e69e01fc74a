"""The PDS's XRPC methods, one module per namespace; each has ``register(router, ctx)``.

- :mod:`.server`: ``com.atproto.server.*`` (accounts, sessions), with
  :mod:`.server_app_passwords`, :mod:`.server_account` (activation, status, deletion),
  :mod:`.server_service_auth`, :mod:`.server_email` and :mod:`.server_shared`.
- :mod:`.repo`, :mod:`.repo_read`, :mod:`.repo_blobs`: ``com.atproto.repo.*`` (record writes,
  record reads, blob uploads and repository imports).
- :mod:`.sync`, :mod:`.sync_blobs`: ``com.atproto.sync.*`` (repository and blob reads).
- :mod:`.identity`: ``com.atproto.identity.*`` (handles, PLC operations).
- :mod:`.actor`: ``app.bsky.actor.getPreferences`` / ``putPreferences``.
- :mod:`.invites`: the invite-code methods of ``com.atproto.server.*``.
- :mod:`.admin`: ``com.atproto.admin.*`` (takedowns, account management, invites).
- :mod:`.errors`: the domain errors as XRPC answers (the router's table).
- :mod:`.common`: the requester, hosted repositories.
"""

from __future__ import annotations

from strato.pds.routes import (
    actor,
    admin,
    identity,
    invites,
    repo,
    repo_blobs,
    repo_read,
    server,
    sync,
    sync_blobs,
)

#: Every namespace module, in registration order.
NAMESPACES = (
    server,
    repo,
    repo_read,
    repo_blobs,
    sync,
    sync_blobs,
    identity,
    actor,
    invites,
    admin,
)

__all__ = [
    "NAMESPACES",
    "actor",
    "admin",
    "identity",
    "invites",
    "repo",
    "repo_blobs",
    "repo_read",
    "server",
    "sync",
    "sync_blobs",
]
