"""Private preferences the PDS keeps for its accounts (``app.bsky.actor.getPreferences`` /
``putPreferences``; they are not in the repository, and not the appview's).

As the reference PDS: only preferences whose ``$type`` is in the ``app.bsky`` namespace are
read or written; putting replaces the account's whole ``app.bsky`` set, in the order given;
``app.bsky.actor.defs#personalDetailsPref`` (the birth date) is read and written only with
full access, and a put without it leaves it as it was.

:func:`get` and :func:`put` are what the routes call; the rest works inside a transaction.

Storage: the ``preferences`` table, one row per account (its DID) holding the JSON array of
every stored preference.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from strato.pds.context import PdsContext
from strato.storage import ReadTxn, WriteTxn

TABLE: Final = "preferences"
NAMESPACE: Final = "app.bsky"
#: Preferences only a full-access session may read or write.
FULL_ACCESS_ONLY: Final = frozenset({"app.bsky.actor.defs#personalDetailsPref"})


class PreferencesError(Exception):
    """Preferences a put may not write (outside the namespace, or restricted)."""


def read_preferences(txn: ReadTxn, did: str) -> list[dict[str, Any]]:
    """Every stored preference of ``did`` (none when it never put any)."""
    data = txn.get(TABLE, did.encode())
    if data is None:
        return []
    stored: list[dict[str, Any]] = msgspec.json.decode(data)
    return stored


def shown(txn: ReadTxn, did: str, *, full: bool) -> list[dict[str, Any]]:
    """The preferences of ``did`` a session reads (``full``: with full access)."""
    return [
        pref
        for pref in read_preferences(txn, did)
        if _in_namespace(pref) and (full or not _restricted(pref))
    ]


def check(given: list[dict[str, Any]], *, full: bool) -> None:
    """Raise :class:`PreferencesError` for preferences a session may not put."""
    if not all(_in_namespace(pref) for pref in given):
        raise PreferencesError(f"Some preferences are not in the {NAMESPACE} namespace")
    if not full and any(_restricted(pref) for pref in given):
        raise PreferencesError("Do not have authorization to set preferences.")


def put_preferences(txn: WriteTxn, did: str, given: list[dict[str, Any]], *, full: bool) -> None:
    """Replace the namespace's preferences of ``did`` with ``given`` (checked first); the
    others, and the restricted ones without ``full`` access, stay."""
    kept = [
        pref
        for pref in read_preferences(txn, did)
        if not _in_namespace(pref) or (not full and _restricted(pref))
    ]
    txn.put(TABLE, did.encode(), msgspec.json.encode(kept + given))


def get(ctx: PdsContext, did: str, *, full: bool) -> list[dict[str, Any]]:
    """The preferences of ``did`` a session reads (``full``: with full access)."""
    with ctx.store.read() as txn:
        return shown(txn, did, full=full)


async def put(ctx: PdsContext, did: str, given: list[dict[str, Any]], *, full: bool) -> None:
    """Check ``given`` (:class:`PreferencesError`) and make it ``did``'s namespace
    preferences (:func:`put_preferences`) in the next group transaction."""
    check(given, full=full)

    def work(txn: WriteTxn) -> None:
        put_preferences(txn, did, given, full=full)

    await ctx.writer.submit(work)


def delete_preferences(txn: WriteTxn, did: str) -> None:
    """Forget ``did``'s preferences (account deletion)."""
    txn.delete(TABLE, did.encode())


def _in_namespace(pref: dict[str, Any]) -> bool:
    kind = str(pref["$type"])
    return kind == NAMESPACE or kind.startswith(NAMESPACE + ".")


def _restricted(pref: dict[str, Any]) -> bool:
    return pref["$type"] in FULL_ACCESS_ONLY
