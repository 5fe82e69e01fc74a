"""The PDS's XRPC methods, one module per namespace; each has ``register(router, ctx)``.

- :mod:`.server`: ``com.atproto.server.*`` (accounts, sessions), with
  :mod:`.server_app_passwords`, :mod:`.server_account` (activation, status, deletion),
  :mod:`.server_service_auth`, :mod:`.server_email` and :mod:`.server_shared`.
- :mod:`.repo`: ``com.atproto.repo.*`` (record writes and reads).
- :mod:`.identity`: ``com.atproto.identity.*`` (handles, PLC operations).
- :mod:`.actor`: ``app.bsky.actor.getPreferences`` / ``putPreferences``.
- :mod:`.invites`: the invite-code methods of ``com.atproto.server.*``.
- :mod:`.admin`: ``com.atproto.admin.*`` (takedowns, account management, invites).
- :mod:`.common`: the domain errors as XRPC answers, the requester, hosted repositories.
"""

from __future__ import annotations

from strato.pds.routes import actor, admin, identity, invites, repo, server

#: Every namespace module, in registration order.
NAMESPACES = (server, repo, identity, actor, invites, admin)

__all__ = ["NAMESPACES", "actor", "admin", "identity", "invites", "repo", "server"]
