"""What every service's context shares: :class:`ServiceContext`, the base of ``PlcContext``,
``PdsContext`` and ``RelayContext``.

A service's context is everything one of its processes holds: its storage (opened on a private
data directory, :func:`private_data_dir`), its metrics registry (:class:`ServerMetrics`), its
logger (``strato.<service>``), the background chores its lifespan starts (:class:`Chores`) and,
for a service that resolves identities, the identity resolver with its cache in the service's
LMDB environment (:func:`identity_resolver`) and an outbound HTTP client. :meth:`aclose` stops
the chores, then the service's own workers (:meth:`ServiceContext.stop_workers`), then closes
the clients and the storage, once. Nothing here knows about HTTP routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Generic, Protocol, TypeVar

import httpx

from strato.identity import IdentityCache, IdentityResolver
from strato.netpolicy import NetworkPolicy
from strato.service.chores import Chores
from strato.service.metrics import ServerMetrics
from strato.storage import Store
from strato.storage.private import make_dir, tighten

#: The table of a service's LMDB environment that caches resolved identities.
IDENTITY_CACHE_TABLE: Final = "identity"


class Closable(Protocol):
    """A service's storage: anything closed once its context is."""

    def close(self) -> None: ...


StorageT = TypeVar("StorageT", bound=Closable)


def private_data_dir(path: Path) -> Path:
    """``path``, made mode 0700 when missing; anything in it open to other users is tightened
    (directories 0700, files 0600), with a warning (:func:`strato.storage.private.tighten`)."""
    data_dir = make_dir(path)
    tighten(data_dir)
    return data_dir


def identity_resolver(
    store: Store,
    plc_url: str,
    policy: NetworkPolicy,
    local_handles: Callable[[str], str | None] | None = None,
) -> IdentityResolver:
    """A resolver of DIDs and handles through ``plc_url`` within ``policy``, caching what it
    resolves in ``store``'s :data:`IDENTITY_CACHE_TABLE`."""
    return IdentityResolver(
        plc_url=plc_url,
        cache=IdentityCache(store, table=IDENTITY_CACHE_TABLE),
        policy=policy,
        local_handles=local_handles,
    )


@dataclass(kw_only=True)
class ServiceContext(Generic[StorageT]):
    """The shared part of a service's context; a subclass names its service (``service``),
    adds its stores and workers, and stops its workers in :meth:`stop_workers`."""

    service: ClassVar[str]

    store: StorageT
    metrics: ServerMetrics
    identity: IdentityResolver | None = None
    http: httpx.AsyncClient | None = None
    logger: logging.Logger = field(init=False, repr=False)
    chores: Chores = field(init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.logger = logging.getLogger(f"strato.{self.service}")
        self.chores = Chores(self.logger)

    async def stop_workers(self) -> None:
        """Stop what the service runs besides its chores (before its clients close)."""

    async def aclose(self) -> None:
        """Stop the chores and the workers, close the clients and the storage; once."""
        if self._closed:
            return
        self._closed = True
        await self.chores.stop()
        await self.stop_workers()
        if self.identity is not None:
            await self.identity.aclose()
        if self.http is not None:
            await self.http.aclose()
        self.store.close()
