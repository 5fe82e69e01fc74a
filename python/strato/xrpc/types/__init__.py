"""Hand-written msgspec types of the XRPC methods strato serves, one module per namespace, and
:data:`METHODS`, each method's :class:`~strato.xrpc.method.MethodTypes` by NSID (what
:meth:`strato.xrpc.router.XrpcRouter.add` uses by default).

Each struct decodes and validates in one step (JSON types, required fields and limits by
msgspec, formats and string lengths in ``__post_init__``) with the same verdicts as the generic
lexicon engine; ``tests/xrpc/test_xrpc_types.py`` checks every registered struct against its
lexicon (the shared set): fields, required, types, limits, defaults, encodings. A service's private
methods keep their types in the service (the relay's admin API: ``strato.relay.admin_types``).
"""

from __future__ import annotations

from strato.xrpc.method import MethodTypes
from strato.xrpc.types import (
    actor,
    admin,
    identity,
    invites,
    repo,
    server,
    sync,
)

METHODS: dict[str, MethodTypes] = {
    **server.METHODS,
    **repo.METHODS,
    **identity.METHODS,
    **sync.METHODS,
    **actor.METHODS,
    **admin.METHODS,
    **invites.METHODS,
}

__all__ = [
    "METHODS",
    "MethodTypes",
    "actor",
    "admin",
    "identity",
    "invites",
    "repo",
    "server",
    "sync",
]
