"""The PDS's XRPC methods, one module per namespace; each has ``register(router, ctx)``.

- :mod:`.server`: ``com.atproto.server.*`` (accounts, sessions).
- :mod:`.repo`: ``com.atproto.repo.*`` (record writes and reads).
- :mod:`.identity`: ``com.atproto.identity.*`` (handles, PLC operations).
- :mod:`.actor`: ``app.bsky.actor.getPreferences`` / ``putPreferences``.
- :mod:`.common`: the domain errors as XRPC answers, the requester, hosted repositories.
"""

from __future__ import annotations

from strato.pds.routes import actor, identity, repo, server

#: Every namespace module, in registration order.
NAMESPACES = (server, repo, identity, actor)

__all__ = ["NAMESPACES", "actor", "identity", "repo", "server"]
