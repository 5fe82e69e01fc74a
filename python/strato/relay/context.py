"""Everything one relay process holds, built from its :class:`RelaySettings`:
:class:`RelayContext`.

One LMDB environment (``<data_dir>/db``) carries the host registry, the account states, the
event log and its index, and the identity cache, so an event, the account state it changes
and the host cursor that passes it are one transaction. What every service holds (the private
data directory, the identity resolver and its cache, metrics, logger, chores, closing) is
:class:`strato.service.context.ServiceContext`'s. Route modules take the context and read what
they need; nothing here knows about HTTP.

Whatever commits events to the log calls :attr:`RelayContext.notify` (a :class:`Notifier`):
it wakes whatever serves the log (the fan-out adds its wake-up while it runs:
:mod:`strato.relay.service`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

import httpx

from strato.firehose import TABLES as FIREHOSE_TABLES
from strato.firehose import EventLog, LmdbEventLog, Retention
from strato.identity import IdentityResolver
from strato.relay.accounts import TABLES as ACCOUNT_TABLES
from strato.relay.accounts import AccountStore
from strato.relay.bans import TABLES as BAN_TABLES
from strato.relay.bans import DomainBans
from strato.relay.crawler import USER_AGENT
from strato.relay.hosts import TABLES as HOST_TABLES
from strato.relay.hosts import HostStore
from strato.relay.limits import TABLES as LIMIT_TABLES
from strato.relay.limits import admit_account
from strato.relay.metrics import RelayMetrics
from strato.relay.pipeline import Ingestor
from strato.relay.repair import Repairer
from strato.relay.settings import RelaySettings
from strato.relay.takedowns import TABLES as TAKEDOWN_TABLES
from strato.service.context import (
    IDENTITY_CACHE_TABLE,
    ServiceContext,
    identity_resolver,
    private_data_dir,
)
from strato.service.metrics import ServerMetrics
from strato.storage import Store
from strato.xrpc.auth import read_admin_token

SCHEMA_VERSION: Final = 1
#: Events whose index entries are dropped per pruning transaction.
UNINDEX_BATCH: Final = 5000


class Notifier:
    """New events are durable in the log: calling it calls every listener. Listeners must be
    safe to call from any thread."""

    def __init__(self, *listeners: Callable[[], None]) -> None:
        self._listeners = listeners

    @property
    def listeners(self) -> tuple[Callable[[], None], ...]:
        return self._listeners

    def add(self, listener: Callable[[], None]) -> None:
        self._listeners = (*self._listeners, listener)

    def remove(self, listener: Callable[[], None]) -> None:
        self._listeners = tuple(item for item in self._listeners if item != listener)

    def __call__(self) -> None:
        for listener in self._listeners:
            listener()


@dataclass(kw_only=True)
class RelayContext(ServiceContext[Store]):
    """The open stores and workers of one relay. Build it with :meth:`open`, inside the
    event loop that will run it; :meth:`aclose` it."""

    service: ClassVar[str] = "relay"

    settings: RelaySettings
    hosts: HostStore
    accounts: AccountStore
    sequencer: EventLog
    relay_metrics: RelayMetrics
    identity: IdentityResolver
    http: httpx.AsyncClient
    ingestor: Ingestor
    repairer: Repairer
    bans: DomainBans
    notify: Notifier
    admin_token: str | None = None

    @classmethod
    def open(cls, settings: RelaySettings) -> RelayContext:
        """Open (or create) the data directory of ``settings`` and everything on it."""
        data_dir = private_data_dir(settings.data_dir)
        store = open_store(data_dir, sync=settings.sync)
        metrics = ServerMetrics("relay")
        relay_metrics = RelayMetrics(metrics)
        sequencer = LmdbEventLog(
            store,
            retention=Retention(
                max_age_seconds=settings.event_retention_hours * 3600,
                max_bytes=settings.event_retention_bytes,
            ),
        )
        notify = Notifier()
        hosts = HostStore(store)
        accounts = AccountStore(store)
        identity = identity_resolver(store, settings.plc_url, settings.network_policy)
        http = httpx.AsyncClient(
            timeout=30.0, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        repairer = Repairer(
            store=store,
            hosts=hosts,
            accounts=accounts,
            sequencer=sequencer,
            identity=identity,
            http=http,
            metrics=relay_metrics,
            notify=notify,
            verify_policy=settings.verify_policy,
            policy=settings.network_policy,
        )
        ingestor = Ingestor(
            store=store,
            hosts=hosts,
            accounts=accounts,
            sequencer=sequencer,
            identity=identity,
            metrics=relay_metrics,
            verify_policy=settings.verify_policy,
            account_limit=lambda txn, host, did: admit_account(txn, hosts, host.id, did),
            notify=notify,
            repairs=repairer,
            data_dir=data_dir,
        )
        repairer.forget_identity = ingestor.forget_identity
        return cls(
            settings=settings,
            store=store,
            hosts=hosts,
            accounts=accounts,
            sequencer=sequencer,
            metrics=metrics,
            relay_metrics=relay_metrics,
            identity=identity,
            http=http,
            ingestor=ingestor,
            repairer=repairer,
            bans=DomainBans(store),
            notify=notify,
            admin_token=read_admin_token(settings.admin_token_file),
        )

    def prune(self) -> int:
        """Apply the retention window to the log and drop the index of what it removed."""
        removed = self.sequencer.prune()
        oldest = self.sequencer.oldest()
        cutoff = self.sequencer.head() + 1 if oldest is None else oldest
        while self.store.transact(
            lambda txn: self.accounts.unindex_before(txn, cutoff, limit=UNINDEX_BATCH)
        ):
            pass
        self.relay_metrics.log_bytes.set(self.sequencer.total_bytes())
        return removed

    async def stop_workers(self) -> None:
        """Stop the repairs."""
        await self.repairer.stop()


def open_store(data_dir: Path, *, sync: bool = True) -> Store:
    """The relay's LMDB environment in ``data_dir`` (created if missing)."""
    tables = (
        HOST_TABLES + ACCOUNT_TABLES + FIREHOSE_TABLES + BAN_TABLES + LIMIT_TABLES
        + TAKEDOWN_TABLES + (IDENTITY_CACHE_TABLE,)
    )  # fmt: skip
    return Store.open(
        data_dir / "db", name="relay", schema_version=SCHEMA_VERSION, tables=tables, sync=sync
    )
