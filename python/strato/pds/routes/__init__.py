"""The PDS's XRPC methods, one module per namespace; each has ``register(router, ctx)``.

- :mod:`.server`: ``com.atproto.server.*`` (accounts, sessions), with
  :mod:`.server_app_passwords`, :mod:`.server_account` (activation, status, deletion),
  :mod:`.server_service_auth`, :mod:`.server_email` and :mod:`.server_shared`.
- :mod:`.repo`: ``com.atproto.repo.*`` (record writes and reads).
- :mod:`.common`: the domain errors as XRPC answers, the requester, hosted repositories.
"""

from __future__ import annotations

from strato.pds.routes import repo, server

#: Every namespace module, in registration order.
NAMESPACES = (server, repo)

__all__ = ["NAMESPACES", "repo", "server"]
