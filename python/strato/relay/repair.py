"""Account repair: the relay fixes accounts that look stuck instead of leaving them silent.

Two kinds of work, queued by the ingest pipeline and the admin API, each run at most once at a
time per account and retried no sooner than ``min_interval`` seconds:

- **recheck**: commits arrived for an account the relay holds inactive. Ask its PDS
  (``com.atproto.sync.getRepoStatus``); when the status there differs, store it and emit an
  ``#account`` with the relay's combined status. An account that is active there with a newer
  rev than the relay's is resynced too.
- **resync**: the account's chain broke (``since``/``prevData`` mismatch), or a throttle was
  lifted. Fetch its whole repository (``com.atproto.sync.getRepo``) from its PDS, verify it
  fully (every block hash, the MST rebuilt to the commit's data root; its commit checked as the
  ``#sync`` it becomes, by the verifier and the :class:`strato.sync.VerifyPolicy` ingest uses:
  the signature with the key of its DID document, high S, a rev in the future), take its commit
  as the account's head, and emit that ``#sync``, whose ``blocks`` is a CAR of just the signed
  commit, so consumers can resynchronise too.

Both go to the host's checked addresses, under the relay's network policy, as the crawler
does: the host's name is resolved again for each repair and its addresses checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Final

import httpx

from strato import car
from strato.datamodel import check_json
from strato.errors import CommitVerificationError, IdentityError
from strato.firehose import EventLog
from strato.firehose.messages import account_message, sync_message
from strato.identity import IdentityResolver
from strato.netpolicy import Destination, NetworkPolicy, send
from strato.relay.accounts import AccountState, AccountStore
from strato.relay.hosts import HostStore
from strato.relay.metrics import RelayMetrics
from strato.relay.ssrf import AddressError, HostnameError, check_target
from strato.repo.verify import RepoReport, verify_repo
from strato.storage import Store, WriteTxn
from strato.sync import VerifiedSync, VerifyPolicy, verify_sync_event

logger = logging.getLogger("strato.relay.repair")

DEFAULT_CONCURRENCY: Final = 8
DEFAULT_MIN_INTERVAL: Final = 60.0
#: The largest repository a resync downloads.
MAX_REPO_BYTES: Final = 1 << 30
#: The most of a ``getRepoStatus`` answer read (a few hundred bytes of JSON).
MAX_STATUS_BYTES: Final = 64 * 1024


class Kind(enum.StrEnum):
    RECHECK = "recheck"
    RESYNC = "resync"


class RepairError(Exception):
    """A repair that could not be done; ``outcome`` names why, for metrics."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class Repairer:
    """Runs rechecks and resyncs in the background; :meth:`start` in the app's event loop."""

    def __init__(
        self,
        *,
        store: Store,
        hosts: HostStore,
        accounts: AccountStore,
        sequencer: EventLog,
        identity: IdentityResolver,
        http: httpx.AsyncClient,
        metrics: RelayMetrics,
        notify: Callable[[], None],
        verify_policy: VerifyPolicy,
        forget_identity: Callable[[str], None] = lambda did: None,
        policy: NetworkPolicy | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        min_interval: float = DEFAULT_MIN_INTERVAL,
    ) -> None:
        self.store = store
        self.hosts = hosts
        self.accounts = accounts
        self.sequencer = sequencer
        self.identity = identity
        self.http = http
        self.metrics = metrics
        self.notify = notify
        self.forget_identity = forget_identity
        self.policy = policy or NetworkPolicy()
        self.verify_policy = verify_policy
        self.min_interval = min_interval
        self._limit = asyncio.Semaphore(concurrency)
        self._running: dict[tuple[Kind, str], asyncio.Task[None]] = {}
        self._last: dict[tuple[Kind, str], float] = {}

    # -- what the pipeline calls --------------------------------------------------------------

    def resync(self, did: str) -> None:
        self._schedule(Kind.RESYNC, did)

    def recheck(self, did: str) -> None:
        self._schedule(Kind.RECHECK, did)

    def _schedule(self, kind: Kind, did: str, *, force: bool = False) -> None:
        key = (kind, did)
        if key in self._running:
            return
        now = time.monotonic()
        if not force and now - self._last.get(key, -self.min_interval) < self.min_interval:
            return
        self._last[key] = now
        task = asyncio.get_running_loop().create_task(self._run(kind, did))
        self._running[key] = task
        task.add_done_callback(lambda _: self._running.pop(key, None))

    async def run_now(self, kind: Kind, did: str) -> None:
        """Run one repair and wait for it (the admin API's path; no interval applies)."""
        self._schedule(kind, did, force=True)
        task = self._running.get((kind, did))
        if task is not None:
            await asyncio.shield(task)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def pending(self) -> int:
        return len(self._running)

    # -- the work -----------------------------------------------------------------------------

    async def _run(self, kind: Kind, did: str) -> None:
        async with self._limit:
            try:
                if kind is Kind.RECHECK:
                    outcome = await self._recheck(did)
                else:
                    outcome = await self._resync(did)
            except RepairError as err:
                outcome = err.outcome
                logger.warning("%s of %s failed: %s", kind, did, err)
            except (httpx.HTTPError, OSError) as err:
                outcome = "unreachable"
                logger.warning("%s of %s failed: %s", kind, did, err)
        self.metrics.repairs.labels(kind, outcome).inc()

    async def _pds(self, state: AccountState) -> Destination:
        """The account's host, checked for connecting."""
        host = self.hosts.get_by_id(None, state.host_id)
        if host is None:
            raise RepairError("no_host", f"host {state.host_id} is gone")
        try:
            target = await check_target(
                host.hostname, no_ssl=host.no_ssl, policy=self.policy, dns=self.identity.network.dns
            )
        except (HostnameError, AddressError) as err:
            raise RepairError("address_refused", f"{host.hostname}: {err}") from None
        return target.destination

    async def _recheck(self, did: str) -> str:
        state = self.accounts.get(None, did)
        if state is None:
            raise RepairError("unknown_account", "the relay has no such account")
        response = await send(
            self.http, await self._pds(state), "GET", "/xrpc/com.atproto.sync.getRepoStatus",
            params={"did": did},
        )  # fmt: skip
        body = await _json_answer(response)
        refused = body.get("error") if isinstance(body, dict) else None
        if response.status_code == 400 and refused == "RepoNotFound":
            upstream: str | None = "deleted"
            rev = None
        elif response.status_code != 200:
            raise RepairError("bad_answer", f"getRepoStatus answered {response.status_code}")
        else:
            if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
                raise RepairError("bad_answer", "getRepoStatus answer has no active flag")
            status = body.get("status")
            upstream = (
                None if body["active"] else (status if isinstance(status, str) else "deactivated")
            )
            rev = body.get("rev") if isinstance(body.get("rev"), str) else None
        changed = await asyncio.to_thread(
            self.store.transact, lambda txn: self._set_upstream(txn, did, upstream)
        )
        if changed:
            self.notify()
        current = self.accounts.get(None, did)
        if (
            upstream is None
            and rev is not None
            and current is not None
            and (current.rev or "") < rev
        ):
            self.resync(did)
        return "changed" if changed else "unchanged"

    def _set_upstream(self, txn: WriteTxn, did: str, upstream: str | None) -> bool:
        state = self.accounts.get(txn, did)
        if state is None or state.upstream_status == upstream:
            return False
        before = (state.active, state.status)
        state.upstream_status = upstream
        self.accounts.put(txn, state)
        if (state.active, state.status) != before:
            self.append_account(txn, state)
        return True

    def append_account(self, txn: WriteTxn, state: AccountState) -> int:
        """Emit ``#account`` with the relay's combined status of ``state``."""
        seq = self.sequencer.append(txn, [account_message(state.did, state.status)])
        self.accounts.index_event(txn, state.did, seq)
        return seq

    async def _resync(self, did: str) -> str:
        state = self.accounts.get(None, did)
        if state is None:
            raise RepairError("unknown_account", "the relay has no such account")
        await self.identity.purge(did)
        self.forget_identity(did)
        try:
            doc = await self.identity.resolve_did(did)
            key = doc.signing_key()
        except (IdentityError, ValueError) as err:
            raise RepairError("unknown_did", str(err)) from err
        data = await self._download(await self._pds(state), did)
        try:
            report, synced = await asyncio.to_thread(self._verify, data, did, key)
        except CommitVerificationError as err:
            raise RepairError(f"invalid_{err.code}", str(err)) from err
        for code, _ in synced.warnings:
            self.metrics.warnings.labels(code).inc()
        appended = await asyncio.to_thread(
            self.store.transact, lambda txn: self._adopt(txn, did, report)
        )
        if appended:
            self.notify()
        return "synced" if appended else "unchanged"

    def _verify(self, data: bytes, did: str, key: str) -> tuple[RepoReport, VerifiedSync]:
        """The repository's structure (every block hash, the tree rebuilt to the commit's data
        root, the commit's DID), then its commit judged as the ``#sync`` it becomes, by the
        verifier and policy ingest uses (signature, high S, a rev in the future)."""
        report = verify_repo(data, did=did)
        if report.rev is None:
            raise CommitVerificationError("malformed", "the repository's commit has no rev")
        body = {"did": did, "rev": report.rev, "blocks": _commit_car(report)}
        return report, verify_sync_event(body, key, policy=self.verify_policy)

    async def _download(self, pds: Destination, did: str) -> bytes:
        path = "/xrpc/com.atproto.sync.getRepo"
        response = await send(self.http, pds, "GET", path, params={"did": did})
        try:
            if response.status_code != 200:
                raise RepairError("bad_answer", f"getRepo answered {response.status_code}")
            chunks = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_REPO_BYTES:
                    raise RepairError("too_big", f"repository over {MAX_REPO_BYTES} bytes")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return b"".join(chunks)

    def _adopt(self, txn: WriteTxn, did: str, report: RepoReport) -> bool:
        state = self.accounts.get(txn, did)
        if state is None or report.rev is None:
            return False
        if state.rev is not None and report.rev < state.rev:
            return False  # older than what the relay has verified since: nothing to adopt
        state.head = bytes(report.commit_cid)
        state.rev = report.rev
        state.data = bytes(report.data_cid)
        state.desynchronized = False
        self.accounts.put(txn, state)
        self.accounts.set_collections(
            txn, did, {path.split("/", 1)[0] for path, _ in report.records}
        )
        if not state.forwarding:
            return False
        seq = self.sequencer.append(txn, [sync_message(did, report.rev, _commit_car(report))])
        self.accounts.index_event(txn, did, seq)
        return True


def _commit_car(report: RepoReport) -> bytes:
    """A ``#sync``'s blocks: a CAR of just the signed commit."""
    return car.write_car([report.commit_cid], [(report.commit_cid, report.commit_block)])


async def _json_answer(response: httpx.Response) -> Any:
    """The JSON value of a host's answer (closed here), None when it is not JSON within the
    data model's limits or longer than :data:`MAX_STATUS_BYTES`."""
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > MAX_STATUS_BYTES:
                return None
    finally:
        await response.aclose()
    try:
        check_json(bytes(data))  # a value nested deep would exhaust the decoder's stack
        return json.loads(data)
    except ValueError:  # DataModelError is one too
        return None
