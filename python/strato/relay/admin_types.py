"""``dev.strato.relay.admin.*``: the relay's admin API, defined by the lexicons shipped in
``strato/relay/lexicons`` (host bans and limits, takedowns, consumers, crawl switches, ingest
figures and their recent history), and the ``dev.strato.relay.admin.defs`` objects they share."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from strato.lexicon.types._base import LexObject, each_text, text
from strato.syntax import is_cid, is_datetime, is_did, is_tid
from strato.xrpc.method import MethodTypes

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
NS: Final = "dev.strato.relay.admin"

Count = Annotated[int, msgspec.Meta(ge=0)]


class HostView(LexObject):
    """``dev.strato.relay.admin.defs#hostView``: an upstream host as the relay keeps it."""

    id: Annotated[int, msgspec.Meta(ge=1)]
    hostname: str
    status: str
    seq: int
    account_count: Count
    account_limit: Count
    throttled_count: Count
    trusted: bool
    no_ssl: bool
    connected: bool
    banned_by: str | Unset = UNSET
    added_at: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.hostname, "hostname", max_bytes=300)
        if self.added_at is not UNSET:
            text(self.added_at, "addedAt", check=is_datetime, fmt="datetime")


class AccountView(LexObject):
    """``dev.strato.relay.admin.defs#accountView``: an account's state at the relay."""

    did: str
    active: bool
    takendown: bool
    throttled: bool
    desynchronized: bool
    events: list[Annotated[int, msgspec.Meta(ge=1)]]
    hostname: str | Unset = UNSET
    status: str | Unset = UNSET
    upstream_status: str | Unset = UNSET
    rev: str | Unset = UNSET
    head: str | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")
        if self.rev is not UNSET:
            text(self.rev, "rev", check=is_tid, fmt="tid")
        if self.head is not UNSET:
            text(self.head, "head", check=is_cid, fmt="cid")


class ConsumerView(LexObject):
    """``dev.strato.relay.admin.defs#consumerView``: a live subscriber."""

    id: Count
    remote_addr: str
    user_agent: str
    connected_at: str
    source: str
    events_sent: Count | Unset = UNSET
    cursor: Count | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.connected_at, "connectedAt", check=is_datetime, fmt="datetime")


class HostStats(LexObject):
    """``dev.strato.relay.admin.defs#hostStats``: one host's ingest figures."""

    hostname: str
    status: str
    events_in: Count
    account_count: Count
    account_limit: Count
    seq: int
    lag_ms: Count | Unset = UNSET


class DropCount(LexObject):
    """``dev.strato.relay.admin.defs#dropCount``: drops of one reason."""

    reason: str
    count: Count


class HostLag(LexObject):
    """``dev.strato.relay.admin.defs#hostLag``: how far behind one host's last event was."""

    hostname: str
    lag_ms: Count


class StatsInterval(LexObject):
    """``dev.strato.relay.admin.defs#statsInterval``: what the relay's counters grew by
    between two samples, and the hosts furthest behind at its end."""

    end: str
    duration_ms: Annotated[int, msgspec.Meta(ge=1)]
    events_in: Count
    events_appended: Count
    drops: list[DropCount]
    lag: list[HostLag]
    frames_sent: Count | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.end, "end", check=is_datetime, fmt="datetime")


class DomainInput(LexObject):
    """The input of ``banDomain`` and ``unbanDomain``."""

    domain: str

    def __post_init__(self) -> None:
        text(self.domain, "domain", max_bytes=253)


class DomainOutput(LexObject):
    """``banDomain`` output: the pattern as stored."""

    domain: str


class UnbanOutput(LexObject):
    """``unbanDomain`` output."""

    removed: bool


class ListBansOutput(LexObject):
    """``listBans`` output."""

    domains: list[str]


class HostInput(LexObject):
    """The input of ``addHost``, ``blockHost`` and ``unblockHost``."""

    hostname: str

    def __post_init__(self) -> None:
        text(self.hostname, "hostname", max_bytes=300)


class SetHostLimitsInput(LexObject):
    """``setHostLimits`` input."""

    hostname: str
    account_limit: Count | Unset = UNSET
    trusted: bool | Unset = UNSET

    def __post_init__(self) -> None:
        text(self.hostname, "hostname", max_bytes=300)


class SetHostLimitsOutput(LexObject):
    """``setHostLimits`` output: the host and the accounts its new limit reactivated."""

    host: HostView
    lifted: list[str]

    def __post_init__(self) -> None:
        each_text(self.lifted, "lifted", check=is_did, fmt="did")


class ListHostsParams(LexObject):
    """``listHosts`` params."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 200
    cursor: str | Unset = UNSET


class ListHostsOutput(LexObject):
    """``listHosts`` output."""

    hosts: list[HostView]
    cursor: str | Unset = UNSET


class DidInput(LexObject):
    """The input of ``takedownAccount`` and ``reverseTakedown``."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class DidParams(LexObject):
    """``getAccount`` params."""

    did: str

    def __post_init__(self) -> None:
        text(self.did, "did", check=is_did, fmt="did")


class ListTakedownsParams(LexObject):
    """``listTakedowns`` params."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 500
    cursor: str | Unset = UNSET


class ListTakedownsOutput(LexObject):
    """``listTakedowns`` output."""

    dids: list[str]
    cursor: str | Unset = UNSET

    def __post_init__(self) -> None:
        each_text(self.dids, "dids", check=is_did, fmt="did")


class ListConsumersOutput(LexObject):
    """``listConsumers`` output."""

    consumers: list[ConsumerView]


class GetStatsOutput(LexObject):
    """``getStats`` output."""

    hosts: list[HostStats]
    drops: list[DropCount]
    head: Count
    log_bytes: Count
    subscribers: Count
    ingest_stopped: str | Unset = UNSET


class GetStatsHistoryOutput(LexObject):
    """``getStatsHistory`` output."""

    interval_ms: Annotated[int, msgspec.Meta(ge=1)]
    intervals: list[StatsInterval]


class Enabled(LexObject):
    """The input and output of ``setCrawlEnabled``, the output of ``getCrawlEnabled``."""

    enabled: bool


class Limit(LexObject):
    """The input and output of ``setNewHostsPerDay``, the output of ``getNewHostsPerDay``."""

    limit: Count


METHODS: dict[str, MethodTypes] = {
    f"{NS}.banDomain": MethodTypes("procedure", input=DomainInput, output=DomainOutput),
    f"{NS}.unbanDomain": MethodTypes("procedure", input=DomainInput, output=UnbanOutput),
    f"{NS}.listBans": MethodTypes("query", output=ListBansOutput),
    f"{NS}.addHost": MethodTypes("procedure", input=HostInput, output=HostView),
    f"{NS}.blockHost": MethodTypes("procedure", input=HostInput, output=HostView),
    f"{NS}.unblockHost": MethodTypes("procedure", input=HostInput, output=HostView),
    f"{NS}.setHostLimits": MethodTypes(
        "procedure", input=SetHostLimitsInput, output=SetHostLimitsOutput
    ),
    f"{NS}.listHosts": MethodTypes("query", params=ListHostsParams, output=ListHostsOutput),
    f"{NS}.takedownAccount": MethodTypes("procedure", input=DidInput, output=AccountView),
    f"{NS}.reverseTakedown": MethodTypes("procedure", input=DidInput, output=AccountView),
    f"{NS}.getAccount": MethodTypes("query", params=DidParams, output=AccountView),
    f"{NS}.listTakedowns": MethodTypes(
        "query", params=ListTakedownsParams, output=ListTakedownsOutput
    ),
    f"{NS}.listConsumers": MethodTypes("query", output=ListConsumersOutput),
    f"{NS}.getStats": MethodTypes("query", output=GetStatsOutput),
    f"{NS}.getStatsHistory": MethodTypes("query", output=GetStatsHistoryOutput),
    f"{NS}.setCrawlEnabled": MethodTypes("procedure", input=Enabled, output=Enabled),
    f"{NS}.getCrawlEnabled": MethodTypes("query", output=Enabled),
    f"{NS}.setNewHostsPerDay": MethodTypes("procedure", input=Limit, output=Limit),
    f"{NS}.getNewHostsPerDay": MethodTypes("query", output=Limit),
}
