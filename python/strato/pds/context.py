"""Everything one PDS process holds, built from its :class:`PdsSettings`: :class:`PdsContext`.

One LMDB environment (``<data_dir>/db``) carries every table: accounts, keys, blob rows,
repositories, the firehose log and preferences, so a commit, its account change and its event
are one transaction. Blob files live beside it (``<data_dir>/blobs``); the master key that
seals private keys is ``<data_dir>/master.key`` unless the settings name another (created on
first start) or ``STRATO_PDS_MASTER_KEY`` gives it. What every service holds (the private data
directory, the identity resolver and its cache, metrics, logger, chores, closing) is
:class:`strato.service.context.ServiceContext`'s.

Route modules (:mod:`strato.pds.routes`) take the context and read what they need from it;
nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

import httpx

from strato.crypto import PublicKey
from strato.errors import AccountNotFoundError
from strato.firehose import TABLES as FIREHOSE_TABLES
from strato.firehose import EventLog, LmdbEventLog, Retention
from strato.identity import IdentityResolver
from strato.identity.plc import PlcClient
from strato.lexicon import Catalog
from strato.pds.accounts import (
    ACCOUNT_RETIRED_TABLES,
    ACCOUNT_TABLES,
    EMAIL_CODE_SECRET,
    AccountStatus,
    AccountStore,
)
from strato.pds.blobs import BLOB_TABLES, BlobStore
from strato.pds.imports import Importer
from strato.pds.keys import KEY_TABLES, KeyStore, MasterKey
from strato.pds.mailer import Mailer
from strato.pds.metrics import WriterMetrics
from strato.pds.settings import PdsSettings
from strato.pds.writer import Writer
from strato.repo import REPO_TABLES, RepoStore
from strato.service.context import (
    IDENTITY_CACHE_TABLE,
    ServiceContext,
    identity_resolver,
    private_data_dir,
)
from strato.service.metrics import ServerMetrics
from strato.storage import Store
from strato.xrpc.auth import (
    AccountStatusFn,
    Authenticator,
    KeyResolver,
    ServiceAuthVerifier,
    read_admin_token,
)
from strato.xrpc.errors import XrpcError

#: The PDS's own tables (the building blocks' tables are listed by their modules).
PDS_TABLES: Final = ("preferences",)
#: The storage schema version (1: repositories had no spaces, see :mod:`strato.repo.store`;
#: upgraded when the store opens).
SCHEMA_VERSION: Final = 2


@dataclass(kw_only=True)
class PdsContext(ServiceContext[Store]):
    """The open stores and clients of one PDS. Build it with :meth:`open`; :meth:`aclose` it."""

    service: ClassVar[str] = "pds"

    settings: PdsSettings
    keys: KeyStore
    accounts: AccountStore
    blobs: BlobStore
    repos: RepoStore
    sequencer: EventLog
    writer: Writer
    importer: Importer
    auth: Authenticator
    identity: IdentityResolver
    plc: PlcClient
    catalog: Catalog
    http: httpx.AsyncClient
    mailer: Mailer
    admin_token: str | None = None

    @classmethod
    def open(cls, settings: PdsSettings) -> PdsContext:
        """Open (or create) the data directory of ``settings`` and everything on it."""
        data_dir = private_data_dir(settings.data_dir)
        store = open_store(data_dir, sync=settings.sync)
        master = MasterKey.load(settings.key_file, create=True)
        metrics = ServerMetrics("pds")
        sequencer = LmdbEventLog(
            store,
            retention=Retention(
                max_age_seconds=settings.event_retention_hours * 3600,
                max_bytes=settings.event_retention_bytes,
            ),
        )
        accounts = AccountStore(
            store,
            email_code_key=master.derive_secret(EMAIL_CODE_SECRET),
            invite_code_required=settings.invite_code_required,
        )
        identity = identity_resolver(
            store,
            settings.plc_url,
            settings.network_policy,
            _hosted_handles(accounts, settings) if settings.local_network else None,
        )
        admin_token = read_admin_token(settings.admin_token_file)
        auth = Authenticator(
            jwt_secret=master.derive_secret("session tokens"),
            service_did=settings.service_did,
            admin_token=admin_token,
            service_auth=ServiceAuthVerifier(
                audiences=frozenset({settings.service_did, f"{settings.service_did}#atproto_pds"}),
                resolve_key=_key_resolver(identity),
            ),
            account_status=_session_account(accounts),
        )
        catalog = Catalog.load(settings.lexicon_dirs) if settings.lexicon_dirs else Catalog()
        keys = KeyStore(store, master)
        blobs = BlobStore(store, data_dir, max_size=settings.blob_limit)
        repos = RepoStore()
        writer = Writer(store, after_commit=sequencer.notify, metrics=WriterMetrics(metrics))
        plc = PlcClient(settings.plc_url)
        importer = Importer(
            store=store, repos=repos, writer=writer, keys=keys, blobs=blobs,
            sequencer=sequencer, identity=identity, plc=plc,
        )  # fmt: skip
        return cls(
            settings=settings,
            store=store,
            keys=keys,
            accounts=accounts,
            blobs=blobs,
            repos=repos,
            sequencer=sequencer,
            metrics=metrics,
            writer=writer,
            importer=importer,
            auth=auth,
            identity=identity,
            plc=plc,
            catalog=catalog,
            http=httpx.AsyncClient(timeout=30.0, follow_redirects=False),
            mailer=Mailer.from_settings(settings),
            admin_token=admin_token,
        )

    async def stop_workers(self) -> None:
        """Stop the importer's background work and the writer, and close the PLC client."""
        await self.importer.stop()
        self.writer.stop()
        await self.plc.aclose()


def open_store(data_dir: Path, *, sync: bool = True) -> Store:
    """The PDS's LMDB environment in ``data_dir`` (created if missing). Another process may
    open it while the PDS runs (``strato account``): LMDB serializes their writes."""
    tables = (
        ACCOUNT_TABLES + KEY_TABLES + BLOB_TABLES + REPO_TABLES + FIREHOSE_TABLES
        + PDS_TABLES + (IDENTITY_CACHE_TABLE,)
    )  # fmt: skip
    return Store.open(
        data_dir / "db", name="pds", schema_version=SCHEMA_VERSION, tables=tables, sync=sync,
        retired=ACCOUNT_RETIRED_TABLES, upgrades={1: RepoStore().add_spaces},
    )  # fmt: skip


def _hosted_handles(accounts: AccountStore, settings: PdsSettings) -> Callable[[str], str | None]:
    """On a local network, handles under the handle domains resolve through the account
    store (nothing answers for ``*.test`` in DNS there)."""

    def lookup(handle: str) -> str | None:
        if not handle.endswith(settings.handle_domains):
            return None
        try:
            return accounts.get_by_handle(handle).did
        except AccountNotFoundError:
            return None

    return lookup


def _session_account(accounts: AccountStore) -> AccountStatusFn:
    """The status of the account a session token names, None once it is no longer hosted."""

    def status(did: str) -> str | None:
        try:
            found = accounts.status(did)
        except AccountNotFoundError:
            return None
        return None if found is AccountStatus.DELETED else str(found)

    return status


def _key_resolver(identity: IdentityResolver) -> KeyResolver:
    async def resolve(did: str, key_id: str, refresh: bool) -> PublicKey:
        if refresh:
            await identity.purge(did)
        doc = await identity.resolve_did(did)
        if key_id != "atproto":
            raise XrpcError(401, "BadJwtSignature", f"no verification method #{key_id}")
        return PublicKey.from_did_key(doc.signing_key())

    return resolve
