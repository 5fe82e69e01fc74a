"""The operation log of one did:plc and the rules a new operation must follow.

:class:`DidLog` holds every operation of a DID in the order the directory received them (the
audit log, nullified ones included). :meth:`DidLog.prepare` checks a proposed operation against
it and says what accepting it would change; :meth:`DidLog.apply` makes the change. The directory
server and :func:`validate_audit_log` share this code, so history and new writes obey the same
rules.

The rules (spec v0.3.0; the reference validators are did-method-plc ``packages/lib/src/data.ts``
and go-didplc ``didplc/opstore.go``):

- The first operation is a signed genesis operation (``prev`` null; ``plc_operation`` or the
  legacy ``create``) that hashes to the DID and is signed by one of its own rotation keys.
- Every later operation names an earlier, non-nullified, non-tombstone operation of the DID as
  ``prev`` and is signed by a key that operation allows. Each operation starts out allowing
  all its rotation keys; once a child signed by key ``i`` follows it, only the keys before ``i``
  (higher priority) remain allowed, so a fork must always come from a stronger key than the last
  one that signed a child of that operation.
- ``prev`` pointing at the latest operation is a plain update; pointing further back forks the
  history and nullifies every operation after ``prev``. A fork is valid only within
  :data:`RECOVERY_WINDOW` (72 hours, inclusive) of the first operation it nullifies.
- ``createdAt`` increases: after ``prev`` for an update, after the latest operation for a fork.
- A tombstone ends the DID; only a fork that nullifies it can follow.

Times are integer microseconds since the Unix epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from strato.errors import PlcValidationError
from strato.identity.plc.operations import (
    LEGACY_CREATE,
    Operation,
    did_for_genesis,
    is_tombstone,
    normalize_operation,
    operation_cid,
    parse_operation,
    rotation_keys,
    verify_operation_signature,
)

#: How long after an operation a higher-priority rotation key may still nullify it.
RECOVERY_WINDOW: Final = 72 * 3600 * 1_000_000


@dataclass
class LogEntry:
    """One operation in a DID's audit log, with what the directory knows about it."""

    cid: str
    operation: Operation
    created_at: int
    nullified: bool = False
    #: How many of the operation's rotation keys (a prefix) may still sign a child of it.
    allowed: int = 0
    #: The CID of the latest operation whose ``prev`` is this one.
    last_child: str | None = None

    @property
    def allowed_keys(self) -> list[str]:
        """The rotation keys that may sign an operation following this one."""
        return rotation_keys(self.operation)[: self.allowed]


@dataclass(frozen=True)
class Prepared:
    """A checked operation and what accepting it changes: the ``nullified`` CIDs and the index
    of the signing key in the ``prev`` operation's allowed keys."""

    operation: Operation
    cid: str
    created_at: int
    prev: str | None
    key_index: int
    nullified: tuple[str, ...]


@dataclass(frozen=True)
class DidData:
    """The current state of a DID: what ``GET /:did/data`` serves and the DID document shows."""

    did: str
    rotation_keys: list[str]
    verification_methods: dict[str, str]
    also_known_as: list[str]
    services: dict[str, dict[str, str]]

    @classmethod
    def from_operation(cls, did: str, op: Operation) -> DidData:
        """The state an operation (not a tombstone) sets."""
        normal = normalize_operation(op)
        return cls(
            did=did,
            rotation_keys=list(normal["rotationKeys"]),
            verification_methods=dict(normal["verificationMethods"]),
            also_known_as=list(normal["alsoKnownAs"]),
            services={name: dict(service) for name, service in normal["services"].items()},
        )

    def to_json(self) -> dict[str, Any]:
        """The PLC JSON form (as the reference directory's ``/data``)."""
        return {
            "did": self.did,
            "verificationMethods": self.verification_methods,
            "rotationKeys": self.rotation_keys,
            "alsoKnownAs": self.also_known_as,
            "services": self.services,
        }


class DidLog:
    """The audit log of ``did`` (``entries`` in the order received; empty until the genesis
    operation is applied)."""

    def __init__(self, did: str, entries: list[LogEntry] | None = None) -> None:
        self.did = did
        self.entries = entries or []
        self._by_cid = {entry.cid: index for index, entry in enumerate(self.entries)}
        active = self.active()
        #: The CID of the latest operation that is not nullified.
        self.head = active[-1].cid if active else None

    def entry(self, cid: str) -> LogEntry:
        """The entry with this CID (KeyError if there is none)."""
        return self.entries[self._by_cid[cid]]

    def head_entry(self) -> LogEntry | None:
        """The latest operation that is not nullified (None for an empty log)."""
        return None if self.head is None else self.entry(self.head)

    def active(self) -> list[LogEntry]:
        """The operations that are not nullified, oldest first (the DID's current history)."""
        return [entry for entry in self.entries if not entry.nullified]

    def data(self) -> DidData | None:
        """The current state, or None when the DID is unknown or tombstoned."""
        head = self.head_entry()
        if head is None or is_tombstone(head.operation):
            return None
        return DidData.from_operation(self.did, head.operation)

    def latest_created_at(self) -> int | None:
        """The largest ``createdAt`` in the log (None for an empty log)."""
        return max((entry.created_at for entry in self.entries), default=None)

    # -- checking and applying ----------------------------------------------------------------

    def prepare(self, value: object, created_at: int) -> Prepared:
        """Check the operation ``value`` (JSON) received at ``created_at`` against the log.

        Raises :class:`PlcValidationError` with the reason when it breaks a rule; the log is
        not changed either way (see :meth:`apply`)."""
        op = parse_operation(value)
        cid = operation_cid(op)
        if cid in self._by_cid:
            raise PlcValidationError(f"operation {cid} is already in the log")
        head = self.head_entry()
        if head is None:
            return self._prepare_genesis(op, cid, created_at)
        prev = op["prev"]
        if prev is None:
            raise PlcValidationError(
                f"{self.did} already exists: only its first operation may have a null prev"
            )
        if op["type"] == LEGACY_CREATE:
            raise PlcValidationError("a legacy create operation is only valid as genesis")
        if prev not in self._by_cid:
            raise PlcValidationError(f"prev {prev} is not an operation of {self.did}")
        parent = self.entry(prev)
        if parent.nullified:
            raise PlcValidationError(f"prev {prev} is a nullified operation")
        if is_tombstone(parent.operation):
            raise PlcValidationError("the DID is tombstoned: no operation may follow a tombstone")
        if parent.last_child is None:
            key_index = self._verify(op, parent.allowed_keys, fork=False)
            if created_at <= parent.created_at:
                raise PlcValidationError("createdAt is not after the prev operation's")
            return Prepared(op, cid, created_at, prev, key_index, ())
        key_index = self._verify(op, parent.allowed_keys, fork=True)
        if created_at <= head.created_at:
            raise PlcValidationError("createdAt is not after the latest operation's")
        nullified = self._descendants(parent)
        first = self.entry(nullified[0])
        if created_at - first.created_at > RECOVERY_WINDOW:
            raise PlcValidationError(
                f"recovery window passed: operation {first.cid} was created "
                f"{timedelta(microseconds=created_at - first.created_at)} before; a "
                "higher-priority rotation key may nullify operations only within 72 hours"
            )
        return Prepared(op, cid, created_at, prev, key_index, tuple(nullified))

    def _prepare_genesis(self, op: Operation, cid: str, created_at: int) -> Prepared:
        if op["prev"] is not None:
            raise PlcValidationError(
                f"{self.did} does not exist: its first operation must be a genesis operation "
                "(prev null)"
            )
        if is_tombstone(op):
            raise PlcValidationError("a tombstone cannot be a genesis operation")
        key_index = verify_operation_signature(op, rotation_keys(op))
        derived = did_for_genesis(op)
        if derived != self.did:
            raise PlcValidationError(
                f"genesis operation hashes to {derived}, not {self.did} (DID derivation)"
            )
        return Prepared(op, cid, created_at, None, key_index, ())

    @staticmethod
    def _verify(op: Operation, keys: list[str], *, fork: bool) -> int:
        try:
            return verify_operation_signature(op, keys)
        except PlcValidationError as err:
            if fork and err.reason.startswith("invalid signature: not signed"):
                raise PlcValidationError(
                    "invalid signature: a fork (nullification) must be signed by a rotation key "
                    "of higher priority than the one that signed the operation it nullifies"
                ) from err
            if fork and err.reason.startswith("no rotation key"):
                raise PlcValidationError(
                    "invalid signature: no rotation key of higher priority than the signer of "
                    "the nullified operation remains to sign a fork"
                ) from err
            raise

    def _descendants(self, parent: LogEntry) -> list[str]:
        """The chain of operations after ``parent`` (the ones a fork at ``parent`` nullifies)."""
        chain = []
        cid = parent.last_child
        while cid is not None:
            chain.append(cid)
            cid = self.entry(cid).last_child
        return chain

    def apply(self, prepared: Prepared) -> LogEntry:
        """Accept a prepared operation (from :meth:`prepare` on this log, unchanged since)."""
        for cid in prepared.nullified:
            self.entry(cid).nullified = True
        if prepared.prev is not None:
            parent = self.entry(prepared.prev)
            parent.allowed = min(parent.allowed, prepared.key_index)
            parent.last_child = prepared.cid
        entry = LogEntry(
            cid=prepared.cid,
            operation=prepared.operation,
            created_at=prepared.created_at,
            allowed=len(rotation_keys(prepared.operation)),
        )
        self._by_cid[entry.cid] = len(self.entries)
        self.entries.append(entry)
        self.head = entry.cid
        return entry


# ---------------------------------------------------------------------------------------------
# Timestamps


def parse_datetime(value: object) -> int:
    """An RFC 3339 timestamp with a timezone (``2023-03-06T18:47:09.501Z``) as microseconds."""
    if not isinstance(value, str):
        raise PlcValidationError("createdAt must be a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise PlcValidationError(f"createdAt {value!r} is not an RFC 3339 datetime") from err
    if moment.tzinfo is None or "T" not in value:
        raise PlcValidationError(f"createdAt {value!r} is not an RFC 3339 datetime with timezone")
    return timestamp_us(moment)


def timestamp_us(moment: datetime) -> int:
    """``moment`` (timezone-aware) as integer microseconds since the epoch."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_datetime(microseconds: int) -> str:
    """Microseconds as the directory writes ``createdAt``: UTC, milliseconds, ``Z``."""
    seconds, micros = divmod(microseconds, 1_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros // 1000:03d}Z"


# ---------------------------------------------------------------------------------------------
# Audit logs


def validate_audit_log(entries: object) -> DidData | None:
    """Check a DID's audit log (the JSON list ``GET /:did/log/audit`` serves: ``did``,
    ``operation``, ``cid``, ``nullified``, ``createdAt`` per entry) by replaying it: every
    operation must be accepted in turn at its ``createdAt``, its ``cid`` must be its CID, and the
    ``nullified`` flags must be the ones the replay produces.

    Returns the DID's resulting data, or None when the log ends in a tombstone. Raises
    :class:`PlcValidationError` with the reason (prefixed with the entry's index) otherwise."""
    if not isinstance(entries, list) or not entries:
        raise PlcValidationError("an audit log is a non-empty JSON list")
    first = entries[0]
    did = first.get("did") if isinstance(first, dict) else None
    if not isinstance(did, str):
        raise PlcValidationError("entry 0: did must be a string")
    log = DidLog(did)
    for index, item in enumerate(entries):
        try:
            _replay(log, item)
        except PlcValidationError as err:
            raise PlcValidationError(f"entry {index}: {err.reason}") from err
    for index, (item, entry) in enumerate(zip(entries, log.entries, strict=True)):
        if item["nullified"] != entry.nullified:
            state = "nullified" if entry.nullified else "not nullified"
            raise PlcValidationError(f"entry {index}: nullified flag disagrees (replay: {state})")
    return log.data()


def _replay(log: DidLog, item: object) -> None:
    if not isinstance(item, dict):
        raise PlcValidationError("audit log entry is not a JSON object")
    missing = sorted({"did", "operation", "cid", "nullified", "createdAt"} - set(item))
    if missing:
        raise PlcValidationError(f"audit log entry is missing {', '.join(missing)}")
    if item["did"] != log.did:
        raise PlcValidationError(f"entry is for {item['did']!r}, not {log.did}")
    if not isinstance(item["nullified"], bool):
        raise PlcValidationError("nullified must be true or false")
    prepared = log.prepare(item["operation"], parse_datetime(item["createdAt"]))
    if prepared.cid != item["cid"]:
        raise PlcValidationError(f"cid {item['cid']!r} is not the operation's CID {prepared.cid}")
    log.apply(prepared)
