"""The log rules (``strato.identity.plc.log``): one test per rejection reason, the recovery window
and key priority in forks, tombstones, and audit-log replay of logs we build ourselves."""

from __future__ import annotations

from typing import Any

import pytest
from plc_helpers import EPOCH, HOUR, did_key, genesis, key
from strato.crypto import PrivateKey
from strato.errors import PlcValidationError
from strato.identity.plc import (
    DidLog,
    create_tombstone,
    create_update,
    did_for_genesis,
    operation_cid,
    validate_audit_log,
)
from strato.identity.plc.log import RECOVERY_WINDOW, format_datetime, parse_datetime
from strato.identity.plc.operations import build_operation, sign_operation

RECOVERY, PRIMARY = key("recovery"), key("primary")


def started(rotation: list[PrivateKey] | None = None) -> tuple[DidLog, dict[str, Any]]:
    """A log holding a genesis operation created at EPOCH."""
    op, did = genesis(rotation or [RECOVERY, PRIMARY])
    log = DidLog(did)
    log.apply(log.prepare(op, EPOCH))
    return log, op


def add(log: DidLog, op: dict[str, Any], at: int) -> None:
    log.apply(log.prepare(op, at))


def rejects(log: DidLog, op: object, at: int, reason: str) -> None:
    before = [(e.cid, e.nullified, e.allowed, e.last_child) for e in log.entries]
    with pytest.raises(PlcValidationError) as caught:
        log.prepare(op, at)
    assert caught.value.reason.startswith(reason), caught.value.reason
    assert [(e.cid, e.nullified, e.allowed, e.last_child) for e in log.entries] == before


def test_genesis_then_updates() -> None:
    log, op = started()
    update = create_update(op, PRIMARY, handle="bob.test")
    add(log, update, EPOCH + 1)
    data = log.data()
    assert data is not None
    assert data.also_known_as == ["at://bob.test"]
    assert log.head == operation_cid(update)
    assert [entry.operation for entry in log.active()] == [op, update]


def test_genesis_must_hash_to_the_did() -> None:
    op, _ = genesis([RECOVERY])
    rejects(DidLog("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"), op, EPOCH, "genesis operation hashes to")


def test_genesis_must_be_signed_by_its_own_rotation_key() -> None:
    op, did = genesis([RECOVERY], signer=PRIMARY)
    rejects(DidLog(did), op, EPOCH, "invalid signature: not signed by any")


def test_first_operation_must_be_genesis() -> None:
    log, op = started()
    update = create_update(op, PRIMARY, handle="bob.test")
    rejects(DidLog(log.did), update, EPOCH, "did:plc:")
    with pytest.raises(PlcValidationError, match="its first operation must be a genesis"):
        DidLog(log.did).prepare(update, EPOCH)


def test_tombstone_cannot_be_genesis() -> None:
    tombstone = sign_operation({"type": "plc_tombstone", "prev": "bafyx"}, RECOVERY)
    with pytest.raises(PlcValidationError, match="its first operation must be a genesis"):
        DidLog("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").prepare(tombstone, EPOCH)


def test_second_genesis_is_rejected() -> None:
    log, _ = started()
    other, _ = genesis([RECOVERY], handle="other.test")
    rejects(log, other, EPOCH + 1, f"{log.did} already exists")


def test_update_signed_by_a_non_rotation_key() -> None:
    log, op = started()
    rejects(log, create_update(op, key("intruder"), handle="x.test"), EPOCH + 1, "invalid sig")


def test_wrong_prev() -> None:
    log, op = started()
    update = create_update(op, PRIMARY, handle="bob.test")
    update = sign_operation({**update, "prev": operation_cid(update)}, PRIMARY)
    rejects(log, update, EPOCH + 1, "prev bafy")


def test_repeated_operation() -> None:
    log, op = started()
    update = create_update(op, PRIMARY, handle="bob.test")
    add(log, update, EPOCH + 1)
    rejects(log, update, EPOCH + 2, "operation bafy")


def test_created_at_must_increase() -> None:
    log, op = started()
    rejects(log, create_update(op, PRIMARY, handle="b.test"), EPOCH, "createdAt is not after")


def test_legacy_create_only_as_genesis() -> None:
    log, _ = started()
    legacy = sign_operation(
        {
            "type": "create",
            "signingKey": did_key(PRIMARY),
            "recoveryKey": did_key(RECOVERY),
            "handle": "x.test",
            "service": "https://pds.test",
            "prev": None,
        },
        RECOVERY,
    )
    rejects(log, legacy, EPOCH + 1, f"{log.did} already exists")


def test_legacy_create_genesis() -> None:
    legacy = sign_operation(
        {
            "type": "create",
            "signingKey": did_key(PRIMARY),
            "recoveryKey": did_key(RECOVERY),
            "handle": "x.test",
            "service": "pds.test",
            "prev": None,
        },
        PRIMARY,  # the signing key is the second rotation key of a legacy op
    )
    log = DidLog(did_for_genesis(legacy))
    add(log, legacy, EPOCH)
    data = log.data()
    assert data is not None
    assert data.rotation_keys == [did_key(RECOVERY), did_key(PRIMARY)]
    assert data.services["atproto_pds"]["endpoint"] == "https://pds.test"


def fork(log: DidLog, genesis_op: dict[str, Any], at: int, signer: PrivateKey) -> dict[str, Any]:
    """An operation following the genesis (forking when it already has a child)."""
    unsigned = build_operation(
        rotation_keys=genesis_op["rotationKeys"],
        verification_methods=genesis_op["verificationMethods"],
        also_known_as=[f"at://fork{at}.test"],
        services=genesis_op["services"],
        prev=operation_cid(genesis_op),
    )
    return sign_operation(unsigned, signer)


def test_recovery_key_nullifies_within_72_hours() -> None:
    log, op = started()
    hijack = create_update(op, PRIMARY, handle="mallory.test")
    add(log, hijack, EPOCH + HOUR)
    after = create_update(hijack, PRIMARY, handle="mallory2.test")
    add(log, after, EPOCH + 2 * HOUR)
    recovery = fork(log, op, 1, RECOVERY)
    at = EPOCH + HOUR + RECOVERY_WINDOW  # exactly 72 h after the first nullified op
    prepared = log.prepare(recovery, at)
    assert prepared.nullified == (operation_cid(hijack), operation_cid(after))
    log.apply(prepared)
    assert [entry.nullified for entry in log.entries] == [False, True, True, False]
    data = log.data()
    assert data is not None
    assert data.also_known_as == ["at://fork1.test"]


def test_nullify_outside_72_hours() -> None:
    log, op = started()
    add(log, create_update(op, PRIMARY, handle="mallory.test"), EPOCH + HOUR)
    rejects(log, fork(log, op, 1, RECOVERY), EPOCH + HOUR + RECOVERY_WINDOW + 1, "recovery window")


def test_nullify_by_lower_priority_key() -> None:
    log, op = started()
    add(log, create_update(op, RECOVERY, handle="by-recovery.test"), EPOCH + HOUR)
    rejects(log, fork(log, op, 1, PRIMARY), EPOCH + 2 * HOUR, "invalid signature: no rotation key")
    strongest = key("strongest")
    log, op = started([strongest, RECOVERY, PRIMARY])
    add(log, create_update(op, RECOVERY, handle="by-recovery.test"), EPOCH + HOUR)
    rejects(log, fork(log, op, 1, PRIMARY), EPOCH + 2 * HOUR, "invalid signature: a fork")


def test_nullify_by_the_same_key() -> None:
    log, op = started()
    add(log, create_update(op, PRIMARY, handle="one.test"), EPOCH + HOUR)
    rejects(log, fork(log, op, 1, PRIMARY), EPOCH + 2 * HOUR, "invalid signature: a fork")


def test_second_fork_needs_a_still_stronger_key() -> None:
    strongest = key("strongest")
    log, op = started([strongest, RECOVERY, PRIMARY])
    add(log, create_update(op, PRIMARY, handle="one.test"), EPOCH + 1)
    add(log, fork(log, op, 2, RECOVERY), EPOCH + 2)
    rejects(log, fork(log, op, 3, RECOVERY), EPOCH + 3, "invalid signature: a fork")
    add(log, fork(log, op, 4, strongest), EPOCH + 4)
    rejects(log, fork(log, op, 5, strongest), EPOCH + 5, "invalid signature: no rotation key")


def test_fork_must_be_after_the_latest_operation() -> None:
    log, op = started()
    add(log, create_update(op, PRIMARY, handle="one.test"), EPOCH + HOUR)
    rejects(log, fork(log, op, 1, RECOVERY), EPOCH + HOUR, "createdAt is not after the latest")


def test_update_of_a_nullified_operation() -> None:
    log, op = started()
    hijack = create_update(op, PRIMARY, handle="mallory.test")
    add(log, hijack, EPOCH + 1)
    add(log, fork(log, op, 1, RECOVERY), EPOCH + 2)
    rejects(log, create_update(hijack, PRIMARY, handle="m.test"), EPOCH + 3, "prev bafy")


def test_operation_after_tombstone() -> None:
    log, op = started()
    tombstone = create_tombstone(op, PRIMARY)
    add(log, tombstone, EPOCH + 1)
    assert log.data() is None
    after = sign_operation({**op, "prev": operation_cid(tombstone)}, PRIMARY)
    rejects(log, after, EPOCH + 2, "the DID is tombstoned")


def test_tombstone_can_be_nullified_by_a_stronger_key() -> None:
    log, op = started()
    add(log, create_tombstone(op, PRIMARY), EPOCH + 1)
    add(log, fork(log, op, 1, RECOVERY), EPOCH + 2)
    assert log.data() is not None


def test_empty_rotation_keys_freeze_the_did() -> None:
    log, op = started()
    frozen = sign_operation(
        {**create_update(op, PRIMARY, rotation_keys=[]), "rotationKeys": []}, PRIMARY
    )
    add(log, frozen, EPOCH + 1)
    rejects(log, create_update(frozen, PRIMARY, handle="x.test"), EPOCH + 2, "no rotation key")


# ---------------------------------------------------------------------------------------------
# Audit logs we build


def audit(log: DidLog) -> list[dict[str, Any]]:
    return [
        {
            "did": log.did,
            "operation": entry.operation,
            "cid": entry.cid,
            "nullified": entry.nullified,
            "createdAt": format_datetime(entry.created_at),
        }
        for entry in log.entries
    ]


def forked_log() -> DidLog:
    log, op = started()
    add(log, create_update(op, PRIMARY, handle="mallory.test"), EPOCH + 1000)
    add(log, fork(log, op, 1, RECOVERY), EPOCH + 2000)
    return log


def test_own_audit_log_replays() -> None:
    log = forked_log()
    data = validate_audit_log(audit(log))
    assert data == log.data()


@pytest.mark.parametrize(
    ("index", "change", "reason"),
    [
        (1, {"cid": "bafyreiaaaa"}, "entry 1: cid 'bafyreiaaaa' is not the operation's CID"),
        (1, {"did": "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"}, "entry 1: entry is for"),
        (0, {"did": "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"}, "entry 0: genesis operation hashes to"),
        (1, {"createdAt": "yesterday"}, "entry 1: createdAt 'yesterday' is not an RFC 3339"),
        (1, {"createdAt": "2025-01-01T00:00:01"}, "entry 1: createdAt '2025-01-01T00:00:01' is"),
        (1, {"createdAt": 5}, "entry 1: createdAt must be a string"),
        (1, {"nullified": "yes"}, "entry 1: nullified must be true or false"),
        (0, {"nullified": True}, "entry 0: nullified flag disagrees (replay: not nullified)"),
        (2, {"createdAt": "2025-01-01T00:00:00.000Z"}, "entry 2: createdAt is not after"),
    ],
)
def test_broken_audit_log(index: int, change: dict[str, Any], reason: str) -> None:
    entries = audit(forked_log())
    entries[index] = entries[index] | change
    with pytest.raises(PlcValidationError) as caught:
        validate_audit_log(entries)
    assert caught.value.reason.startswith(reason), caught.value.reason


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([], "an audit log is a non-empty JSON list"),
        ({}, "an audit log is a non-empty JSON list"),
        ([{"did": 1}], "entry 0: did must be a string"),
        ([{"did": "did:plc:x"}], "entry 0: audit log entry is missing cid, createdAt"),
    ],
)
def test_malformed_audit_log(entries: object, reason: str) -> None:
    with pytest.raises(PlcValidationError) as caught:
        validate_audit_log(entries)
    assert caught.value.reason.startswith(reason)


def test_entry_that_is_not_an_object() -> None:
    entries: list[object] = [*audit(forked_log()), "junk"]
    with pytest.raises(PlcValidationError, match="entry 3: audit log entry is not a JSON object"):
        validate_audit_log(entries)


def test_datetimes_round_trip() -> None:
    assert format_datetime(EPOCH + 1500) == "2025-01-01T00:00:00.001Z"
    assert parse_datetime("2025-01-01T00:00:00.001Z") == EPOCH + 1000
    assert parse_datetime("2025-01-01T01:00:00+01:00") == EPOCH
