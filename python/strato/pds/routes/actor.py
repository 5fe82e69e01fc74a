"""``app.bsky.actor.getPreferences`` / ``putPreferences``: private preferences the PDS keeps
for its accounts (they are not in the repository, and not the appview's).

As the reference PDS: only preferences whose ``$type`` is in the ``app.bsky`` namespace are
read or written here; putting replaces the account's whole ``app.bsky`` set, in the order
given; ``app.bsky.actor.defs#personalDetailsPref`` (the birth date) is read and written only
with full access, and an app-password session's put leaves it as it was; a taken-down account
may not put (401 ``AccountTakedown``, even with a token issued before the takedown), and the
verifier refuses the token of an account no longer hosted here (403 ``AccountNotFound``).

Storage: the ``preferences`` table, one row per account (its DID) holding the JSON array of
every stored preference.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.storage import ReadTxn, WriteTxn
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.auth import AccessCredentials, AuthScope
from strato.xrpc.errors import invalid_request
from strato.xrpc.types import actor as types

TABLE: Final = "preferences"
NAMESPACE: Final = "app.bsky"
#: Preferences only a full-access session may read or write.
FULL_ACCESS_ONLY: Final = frozenset({"app.bsky.actor.defs#personalDetailsPref"})


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the methods of this namespace to ``router``."""

    @router.method("app.bsky.actor.getPreferences", auth=ctx.auth.access())
    async def get_preferences(request: XrpcRequest[None, None]) -> types.GetPreferencesOutput:
        did = requester(request)
        full = _full_access(request)
        with ctx.store.read() as txn:
            stored = read_preferences(txn, did)
        shown = [pref for pref in stored if _in_namespace(pref) and (full or not _restricted(pref))]
        return types.GetPreferencesOutput(preferences=shown)

    @router.method("app.bsky.actor.putPreferences", auth=ctx.auth.access(check_takedown=True))
    async def put_preferences(request: XrpcRequest[None, types.PutPreferencesInput]) -> None:
        did = requester(request)
        full = _full_access(request)
        given: list[dict[str, Any]] = request.input.preferences
        if not all(_in_namespace(pref) for pref in given):
            raise invalid_request(f"Some preferences are not in the {NAMESPACE} namespace")
        if not full and any(_restricted(pref) for pref in given):
            raise invalid_request("Do not have authorization to set preferences.")

        def work(txn: WriteTxn) -> None:
            kept = [
                pref
                for pref in read_preferences(txn, did)
                if not _in_namespace(pref) or (not full and _restricted(pref))
            ]
            txn.put(TABLE, did.encode(), msgspec.json.encode(kept + given))

        await ctx.writer.submit(work)


def read_preferences(txn: ReadTxn, did: str) -> list[dict[str, Any]]:
    """Every stored preference of ``did`` (none when it never put any)."""
    data = txn.get(TABLE, did.encode())
    if data is None:
        return []
    stored: list[dict[str, Any]] = msgspec.json.decode(data)
    return stored


def delete_preferences(txn: WriteTxn, did: str) -> None:
    """Forget ``did``'s preferences (account deletion)."""
    txn.delete(TABLE, did.encode())


def _full_access(request: XrpcRequest[Any, Any]) -> bool:
    credentials = request.auth
    return isinstance(credentials, AccessCredentials) and credentials.scope is AuthScope.ACCESS


def _in_namespace(pref: dict[str, Any]) -> bool:
    kind = str(pref["$type"])
    return kind == NAMESPACE or kind.startswith(NAMESPACE + ".")


def _restricted(pref: dict[str, Any]) -> bool:
    return pref["$type"] in FULL_ACCESS_ONLY
