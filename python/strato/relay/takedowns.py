"""Account takedowns at the relay: :class:`Takedowns`, over the LMDB table :data:`TABLES`
(``relay_takedowns``: DID -> the unix time of the takedown, as text).

A takedown, in one write transaction: the account is marked ``takendown`` (the pipeline drops
its events from then on, reason ``account_takendown``), every event of it still in the log is
deleted (found through the account event index; the reference relay keeps them, so a replay
would still serve them), and an ``#account {active: false, status: "takendown"}`` is appended,
which stays in the log and in the index. A reversal clears the mark, appends ``#account`` with
the account's combined status, and resyncs the account from its PDS so that consumers get a
``#sync`` to catch up from (the events dropped meanwhile are not replayed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from strato.firehose import EventLog
from strato.relay.accounts import AccountState, AccountStore
from strato.relay.metrics import RelayMetrics
from strato.relay.repair import Kind, Repairer
from strato.storage import ReadTxn, Store, WriteTxn

TAKEDOWNS: Final = "relay_takedowns"
TABLES: Final = (TAKEDOWNS,)


class UnknownAccountError(LookupError):
    """The relay has never seen the account."""


class Takedowns:
    """Takes accounts down and back; the log, index and states are the relay's own."""

    def __init__(
        self,
        *,
        store: Store,
        accounts: AccountStore,
        sequencer: EventLog,
        repairer: Repairer,
        notify: Callable[[], None],
        metrics: RelayMetrics,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.sequencer = sequencer
        self.repairer = repairer
        #: Wakes whatever serves the log.
        self.notify = notify
        self.metrics = metrics

    async def take_down(self, did: str) -> tuple[AccountState, int]:
        """Take ``did`` down; the state and how many of its events were purged (an account
        already down is left as it is). Raises :class:`UnknownAccountError`."""
        state, purged = await asyncio.to_thread(
            self.store.transact, lambda txn: self._take_down(txn, did)
        )
        self.metrics.log_bytes.set(self.sequencer.total_bytes())
        self.notify()
        return state, purged

    def _take_down(self, txn: WriteTxn, did: str) -> tuple[AccountState, int]:
        state = self._state(txn, did)
        if state.takendown:
            return state, 0
        state.takendown = True
        self.accounts.put(txn, state)
        txn.put(TAKEDOWNS, did.encode(), repr(time.time()).encode())
        seqs = self.accounts.event_seqs(txn, did)
        purged = self.sequencer.remove(txn, seqs)
        for seq in seqs:
            self.accounts.unindex_event(txn, did, seq)
        self.repairer.append_account(txn, state)
        return state, purged

    async def reverse(self, did: str) -> AccountState:
        """Lift the takedown of ``did`` and resync it (waits for the resync; a failed one is
        counted in the repair metrics and the account stays as its next commit finds it).
        Raises :class:`UnknownAccountError`."""
        state, changed = await asyncio.to_thread(
            self.store.transact, lambda txn: self._reverse(txn, did)
        )
        if changed:
            self.notify()
            await self.repairer.run_now(Kind.RESYNC, did)
        return self.accounts.get(None, did) or state

    def _reverse(self, txn: WriteTxn, did: str) -> tuple[AccountState, bool]:
        state = self._state(txn, did)
        if not state.takendown:
            return state, False
        state.takendown = False
        self.accounts.put(txn, state)
        txn.delete(TAKEDOWNS, did.encode())
        self.repairer.append_account(txn, state)
        return state, True

    def _state(self, txn: ReadTxn, did: str) -> AccountState:
        state = self.accounts.get(txn, did)
        if state is None:
            raise UnknownAccountError(did)
        return state

    def listed(self, *, after: str | None = None, limit: int = 500) -> list[str]:
        """The DIDs taken down, in order, from the first after ``after``."""
        start = None if after is None else after.encode() + b"\x00"
        with self.store.read() as txn:
            return [key.decode() for key, _ in txn.items(TAKEDOWNS, start, limit=limit)]
