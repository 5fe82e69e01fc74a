"""Ingest: upstream frames from every host, verified in batches and committed to the relay's log.

Host subscriptions hand raw frames to :meth:`Ingestor.submit`, which waits while the queue is
full (backpressure reaches the host's socket, nothing is dropped). The :meth:`Ingestor.run`
task takes whatever is queued, up to ``max_batch`` frames, and handles them as one batch:

1. decode each frame (:func:`strato.firehose.upstream.parse_upstream`), on the ingest thread;
2. resolve the identities the batch needs (signing key and PDS host) through the cached
   resolver, concurrently, on the event loop; an account whose PDS is not the sending host is
   re-resolved once before its events are dropped as ``wrong_host``;
3. on the ingest thread: verify every ``#commit`` with the Rust verifier across all cores (GIL
   released) against the account's last verified rev and data root, the k-th commit of each
   account in the k-th wave; then, in one write transaction, apply the events in order: update
   the account state, append each forwarded event's frame to the log
   (:func:`strato.firehose.upstream.resequence`) and advance the host's upstream cursor, so
   what is durable and where each host resumes always agree;
4. after the commit: wake the firehose and hand account repairs to the :class:`Repairs`
   callbacks (a broken chain: resync; commits from an inactive or throttled-looking account:
   re-check its status at its PDS).

Every dropped event is counted by its reason: the verifier's :class:`strato.sync.ErrorCode`
values and the pipeline's own (:data:`DROP_REASONS`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from strato._core import CID
from strato.errors import CommitVerificationError, IdentityError, StorageError, StorageFullError
from strato.firehose import EventLog
from strato.firehose.upstream import UpstreamError, UpstreamEvent, parse_upstream, resequence
from strato.identity import IdentityResolver
from strato.relay.accounts import AccountState, AccountStore
from strato.relay.hosts import Host, HostStore
from strato.relay.metrics import RelayMetrics
from strato.storage import EngineError, Store, WriteTxn
from strato.sync import (
    CommitItem,
    ErrorCode,
    VerifyPolicy,
    verify_commit_events,
    verify_sync_event,
)

logger = logging.getLogger("strato.relay.ingest")

DEFAULT_QUEUE_SIZE: Final = 4096
DEFAULT_MAX_BATCH: Final = 1024
#: Free disk space below which ingest stops (health reports it) until space is freed.
DEFAULT_DISK_RESERVE: Final = 256 << 20
DEFAULT_RETRY_INTERVAL: Final = 5.0
#: Identities kept in memory (signing key and PDS host per DID); the resolver's LMDB cache
#: stands behind it.
IDENTITY_MEMORY: Final = 100_000
IDENTITY_CONCURRENCY: Final = 32
#: Chain errors after which an account is marked desynchronized and resynced.
CHAIN_BREAKS: Final = frozenset({ErrorCode.SINCE_MISMATCH, ErrorCode.PREV_DATA_MISMATCH})
#: The pipeline's own drop reasons (the verifier's are :class:`strato.sync.ErrorCode`).
DROP_REASONS: Final = (
    "malformed_frame", "frame_too_big", "error_frame", "unknown_type", "missing_seq",
    "missing_did", "seq_replayed", "unknown_did", "wrong_host", "account_takendown",
    "account_throttled", "account_inactive", "desynchronized",
)  # fmt: skip


class Repairs(Protocol):
    """Where the pipeline sends accounts that need repair (:mod:`strato.relay.repair`)."""

    def resync(self, did: str) -> None: ...

    def recheck(self, did: str) -> None: ...


@dataclass(slots=True)
class _Identity:
    key: str | None
    pds_host: str | None


@dataclass(slots=True)
class _Item:
    host: Host
    message: UpstreamEvent | None = None
    reason: str | None = None
    identity: _Identity | None = None
    verified: Any = None
    checked_against: tuple[str | None, bytes | None] | None = None


@dataclass(slots=True)
class _Outcome:
    appended: int = 0
    forwarded: dict[str, int] = field(default_factory=dict)
    #: The frames to append (each built once its seq is known) and their accounts, in order.
    frames: list[Callable[[int], bytes]] = field(default_factory=list)
    dids: list[str] = field(default_factory=list)
    drops: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    resync: set[str] = field(default_factory=set)
    recheck: set[str] = field(default_factory=set)
    identity_changed: set[str] = field(default_factory=set)

    def drop(self, item: _Item, reason: str) -> None:
        item.reason = reason
        self.drops[reason] = self.drops.get(reason, 0) + 1


def host_of(url: str) -> str | None:
    """The ``host[:port]`` of a PDS URL, lowercase, without a default port."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.hostname if port is None or port == default else f"{parts.hostname}:{port}"


class Ingestor:
    """The relay's one writer of the log, account states and host cursors."""

    def __init__(
        self,
        *,
        store: Store,
        hosts: HostStore,
        accounts: AccountStore,
        sequencer: EventLog,
        identity: IdentityResolver,
        metrics: RelayMetrics,
        verify_policy: VerifyPolicy,
        account_limit: Callable[[WriteTxn, Host, str], bool],
        notify: Callable[[], None],
        repairs: Repairs,
        data_dir: Path,
        disk_reserve: int = DEFAULT_DISK_RESERVE,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.accounts = accounts
        self.sequencer = sequencer
        self.identity = identity
        self.metrics = metrics
        self.verify_policy = verify_policy
        self.account_limit = account_limit
        self.notify = notify
        self.repairs = repairs
        self.max_batch = max_batch
        self.data_dir = data_dir
        self.disk_reserve = disk_reserve
        self.retry_interval = retry_interval
        self._queue: asyncio.Queue[tuple[Host, bytes]] = asyncio.Queue(queue_size)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="relay-ingest")
        self._identities: dict[str, _Identity] = {}
        self._purges: set[asyncio.Task[None]] = set()
        #: Why ingest is stopped (disk full, store failing), None while it runs. Nothing is lost
        #: meanwhile: the queue fills, hosts stop being read, their cursors hold.
        self.stopped_reason: str | None = None

    async def submit(self, host: Host, data: bytes) -> None:
        """Queue one upstream frame from ``host`` (waits while the queue is full)."""
        await self._queue.put((host, data))

    async def run(self) -> None:
        """Take batches off the queue until cancelled. A batch that fails for any reason
        (a bug, say) stops ingest with the reason in health, and is tried again: nothing of
        it was written and no host cursor passed it, so skipping it would lose its events."""
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self.max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                while True:
                    try:
                        await self.process(batch)
                        break
                    except Exception as err:
                        logger.exception("a batch of %d upstream events failed", len(batch))
                        self._stop(f"ingest failed: {err!r}")
                        await asyncio.sleep(self.retry_interval)
        finally:
            self._thread.shutdown(wait=True, cancel_futures=True)

    def forget_identity(self, did: str) -> None:
        """Drop the in-memory identity of ``did`` (its document changed)."""
        self._identities.pop(did, None)

    async def process(self, batch: list[tuple[Host, bytes]]) -> int:
        """Handle one batch; returns how many events were appended to the log. While the disk
        is short of space, or a write fails, it waits and tries again: nothing of the batch
        is durable until its transaction commits, and no host cursor moves before that."""
        loop = asyncio.get_running_loop()
        items = await loop.run_in_executor(self._thread, _decode, batch)
        decoded = _Outcome()
        for item in items:
            if item.reason is not None:
                decoded.drops[item.reason] = decoded.drops.get(item.reason, 0) + 1
        await self._resolve(items, decoded)
        settled = [(item.reason, item.identity) for item in items]
        while True:
            for item, (reason, identity) in zip(items, settled, strict=True):
                item.reason, item.identity, item.verified = reason, identity, None
            await self._wait_for_space()
            outcome = _Outcome(drops=dict(decoded.drops))
            started = time.perf_counter()
            try:
                await loop.run_in_executor(self._thread, self._verify_and_commit, items, outcome)
                break
            except StorageFullError:
                continue  # the map has grown: run the batch again at once
            except (StorageError, EngineError, OSError) as err:
                self._stop(f"the store refused a write: {err}")
                await asyncio.sleep(self.retry_interval)
        elapsed = time.perf_counter() - started
        self._resume()
        self._report(items, outcome, elapsed)
        return outcome.appended

    async def _wait_for_space(self) -> None:
        while True:
            free = shutil.disk_usage(self.data_dir).free
            if free >= self.disk_reserve:
                return
            self._stop(f"disk full: {free} bytes free, {self.disk_reserve} kept in reserve")
            await asyncio.sleep(self.retry_interval)

    def _stop(self, reason: str) -> None:
        if self.stopped_reason is None:
            logger.error("ingest stopped: %s", reason)
        self.stopped_reason = reason
        self.metrics.ingest_stopped.set(1)

    def _resume(self) -> None:
        if self.stopped_reason is not None:
            logger.warning("ingest resumed")
            self.stopped_reason = None
            self.metrics.ingest_stopped.set(0)

    # -- stage 2: identities ------------------------------------------------------------------

    async def _resolve(self, items: list[_Item], outcome: _Outcome) -> None:
        needed = {
            item.message.did
            for item in items
            if item.message is not None and item.message.did not in self._identities
        }
        await self._fetch(needed, refresh=False)
        # A host that is not the account's PDS by the cached document: re-resolve once.
        stale = {
            item.message.did
            for item in items
            if item.message is not None
            and (identity := self._identities.get(item.message.did)) is not None
            and identity.pds_host != item.host.hostname
        }
        await self._fetch(stale, refresh=True)
        for item in items:
            if item.message is None:
                continue
            identity = self._identities.get(item.message.did)
            if identity is None or identity.pds_host is None:
                outcome.drop(item, "unknown_did")
            elif identity.pds_host != item.host.hostname:
                outcome.drop(item, "wrong_host")
            else:
                item.identity = identity

    async def _fetch(self, dids: Iterable[str], *, refresh: bool) -> None:
        limit = asyncio.Semaphore(IDENTITY_CONCURRENCY)

        async def one(did: str) -> None:
            async with limit:
                if refresh:
                    await self.identity.purge(did)
                try:
                    doc = await self.identity.resolve_did(did)
                except (IdentityError, ValueError):
                    self._identities.pop(did, None)
                    return
                try:
                    key: str | None = doc.signing_key()
                except IdentityError:
                    key = None
                try:
                    pds = host_of(doc.pds_endpoint())
                except IdentityError:
                    pds = None
                if len(self._identities) >= IDENTITY_MEMORY:
                    self._identities.pop(next(iter(self._identities)))
                self._identities[did] = _Identity(key, pds)

        await asyncio.gather(*(one(did) for did in set(dids)))

    # -- stage 3: verification and the transaction -------------------------------------------

    def _verify_and_commit(self, items: list[_Item], outcome: _Outcome) -> None:
        with self.store.read() as txn:
            states = {
                item.message.did: self.accounts.get(txn, item.message.did)
                for item in items
                if item.reason is None and item.message is not None
            }
        self._verify_commits(items, states)
        with self.store.write() as txn:
            cursors: dict[int, int] = {}
            for item in items:
                message = item.message
                if message is not None:
                    last = cursors.get(item.host.id)
                    if last is None:
                        host = self.hosts.get_by_id(txn, item.host.id)
                        last = host.last_seq if host is not None else -1
                    if message.seq <= last:
                        if item.reason is None:
                            outcome.drop(item, "seq_replayed")
                        continue  # a replay of what is durable: the cursor stays
                    cursors[item.host.id] = message.seq
                if item.reason is None:
                    self._apply(txn, item, outcome)
            first = self.sequencer.append(txn, outcome.frames)
            for seq, did in enumerate(outcome.dids, first):
                self.accounts.index_event(txn, did, seq)
            for host_id, seq in cursors.items():
                self.hosts.set_cursor(txn, host_id, seq)

    def _verify_commits(self, items: list[_Item], states: dict[str, AccountState | None]) -> None:
        """Speculative verification in waves: wave k holds the k-th commit of each account,
        checked against the state the earlier waves left (re-checked at apply time)."""
        heads = {did: (s.rev, s.data) if s else (None, None) for did, s in states.items()}
        per_account: dict[str, list[_Item]] = {}
        for item in items:
            message = item.message
            if item.reason is None and message is not None and message.t == "#commit":
                per_account.setdefault(message.did, []).append(item)
        now = time.time()
        queues = list(per_account.values())
        depth = 0
        while queues:
            wave = [queue[depth] for queue in queues]
            results = verify_commit_events(
                [self._commit_item(item, heads[_did(item)], now) for item in wave],
                policy=self.verify_policy,
            )
            for item, result in zip(wave, results, strict=True):
                did = _did(item)
                item.verified = result
                item.checked_against = heads[did]
                if not isinstance(result, CommitVerificationError):
                    heads[did] = (result.rev, bytes(result.data_cid))
            depth += 1
            queues = [queue for queue in queues if len(queue) > depth]

    def _commit_item(
        self, item: _Item, head: tuple[str | None, bytes | None], now: float
    ) -> CommitItem:
        assert item.message is not None
        assert item.identity is not None
        rev, data = head
        return {
            "payload": item.message.body,
            "did_key": item.identity.key,
            "prev_rev": rev,
            "prev_data": None if data is None else CID.decode(data),
            "now": now,
        }

    def _state(self, txn: WriteTxn, item: _Item, outcome: _Outcome) -> AccountState | None:
        """The account's state, created on its first event (counted against its host's
        account limit); None when the event is dropped."""
        assert item.message is not None
        did = item.message.did
        state = self.accounts.get(txn, did)
        if state is None:
            state = AccountState(did=did, host_id=item.host.id)
            state.throttled = not self.account_limit(txn, item.host, did)
            self.accounts.put(txn, state)
        elif state.host_id != item.host.id:
            # The DID document (re-resolved) names this host: the account moved here.
            state.host_id = item.host.id
            state.throttled = not self.account_limit(txn, item.host, did)
            self.accounts.put(txn, state)
        if state.takendown:
            outcome.drop(item, "account_takendown")
            return None
        if state.throttled:
            outcome.drop(item, "account_throttled")
            return None
        return state

    def _apply(self, txn: WriteTxn, item: _Item, outcome: _Outcome) -> None:
        message = item.message
        assert message is not None
        state = self._state(txn, item, outcome)
        if state is None:
            return
        if message.t == "#commit":
            if not state.forwarding:
                outcome.drop(item, "account_inactive")
                outcome.recheck.add(message.did)
                return
            if not self._check_commit(item, state, outcome):
                return
            result = item.verified
            state.head = bytes(result.commit_cid)
            state.rev = result.rev
            state.data = bytes(result.data_cid)
            outcome.warnings.extend(code for code, _ in result.warnings)
            for op in message.body.get("ops") or ():
                if op.get("action") == "create":
                    self.accounts.add_collection(txn, message.did, op["path"].split("/", 1)[0])
        elif message.t == "#sync":
            if not state.forwarding:
                outcome.drop(item, "account_inactive")
                outcome.recheck.add(message.did)
                return
            assert item.identity is not None
            try:
                synced = verify_sync_event(
                    message.body,
                    item.identity.key,
                    prev_rev=state.rev,
                    policy=self.verify_policy,
                )
            except CommitVerificationError as err:
                outcome.drop(item, err.code)
                return
            state.head = bytes(synced.commit_cid)
            state.rev = synced.rev
            state.data = bytes(synced.data_cid)
            state.desynchronized = False
            outcome.warnings.extend(code for code, _ in synced.warnings)
        elif message.t == "#identity":
            outcome.identity_changed.add(message.did)
        elif message.t == "#account":
            active = message.body.get("active")
            status = message.body.get("status")
            if active is True:
                state.upstream_status = None
            else:
                state.upstream_status = status if isinstance(status, str) else "deactivated"
        self.accounts.put(txn, state)
        outcome.frames.append(partial(resequence, message, status=state.status))
        outcome.dids.append(message.did)
        outcome.forwarded[message.t] = outcome.forwarded.get(message.t, 0) + 1
        outcome.appended += 1

    def _check_commit(self, item: _Item, state: AccountState, outcome: _Outcome) -> bool:
        """Whether the verified commit holds against the account's current state (verified
        again when an earlier event of the batch changed it)."""
        assert item.message is not None
        if item.checked_against != (state.rev, state.data):
            result = verify_commit_events(
                [self._commit_item(item, (state.rev, state.data), time.time())],
                policy=self.verify_policy,
            )[0]
            item.verified = result
        result = item.verified
        if isinstance(result, CommitVerificationError):
            outcome.drop(item, result.code)
            if result.code in CHAIN_BREAKS:
                state.desynchronized = True
                outcome.resync.add(item.message.did)
            return False
        return True

    # -- stage 4: after the commit ------------------------------------------------------------

    def _report(self, items: list[_Item], outcome: _Outcome, elapsed: float) -> None:
        if outcome.appended:
            self.notify()
        metrics = self.metrics
        for reason, count in outcome.drops.items():
            metrics.drop(reason, count)
        for code in outcome.warnings:
            metrics.warnings.labels(code).inc()
        metrics.batch_events.observe(len(items))
        commits = sum(1 for item in items if item.verified is not None)
        if commits:
            metrics.verify_seconds.observe(elapsed / commits)
        for t, count in outcome.forwarded.items():
            metrics.events_forwarded.labels(t).inc(count)
        received: dict[str, int] = {}
        latest: dict[str, _Item] = {}
        for item in items:
            name = item.host.hostname
            received[name] = received.get(name, 0) + 1
            if item.message is not None and item.reason is None:
                latest[name] = item
        for name, count in received.items():
            metrics.events_in.labels(name).inc(count)
        now = time.time()
        for name, item in latest.items():
            assert item.message is not None
            lag = _lag(item.message.body.get("time"), now)
            if lag is not None:
                metrics.lag.labels(name).set(lag)
        for did in outcome.identity_changed:
            self.forget_identity(did)
            task = asyncio.get_running_loop().create_task(self.identity.purge(did))
            self._purges.add(task)
            task.add_done_callback(self._purges.discard)
        for did in outcome.resync:
            self.repairs.resync(did)
        for did in outcome.recheck:
            self.repairs.recheck(did)


def _decode(batch: list[tuple[Host, bytes]]) -> list[_Item]:
    items = []
    for host, data in batch:
        item = _Item(host)
        try:
            item.message = parse_upstream(data)
        except UpstreamError as err:
            item.reason = err.reason
        if item.message is None and item.reason is None:
            continue  # #info: nothing to forward, no cursor
        items.append(item)
    return items


def _did(item: _Item) -> str:
    assert item.message is not None
    return item.message.did


def _lag(stamp: object, now: float) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return max(0.0, now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None
