"""Every audit log in ``../shared/testdata/plc/interop_tests/audit_log`` (the did-method-plc
interop cases, canonical in go-didplc ``testdata``) through
:func:`strato.identity.plc.validate_audit_log`: valid logs give the DID's data, invalid ones fail
with the reason we expect for each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_path, skipped_param
from strato.errors import PlcValidationError
from strato.identity.plc import normalize_operation, operation_cid, validate_audit_log
from strato.identity.plc.log import parse_datetime
from strato.plc.store import PlcStore

AUDIT_LOGS = shared_path("testdata", "plc", "interop_tests", "audit_log")

#: Why each invalid log fails: the entry and the start of the reason.
INVALID = {
    "log_invalid_nullification_reused_key.json": (
        2,
        "invalid signature: a fork (nullification) must be signed by a rotation key of higher",
    ),
    "log_invalid_nullification_too_slow.json": (2, "recovery window passed"),
    "log_invalid_sig_b64_newline.json": (0, "signature is not base64url without padding"),
    "log_invalid_sig_b64_padding_bits.json": (0, "signature is not canonical base64url"),
    "log_invalid_sig_b64_padding_chars.json": (0, "signature is not base64url without padding"),
    "log_invalid_sig_der.json": (0, "invalid signature: DER-encoded"),
    "log_invalid_sig_k256_high_s.json": (0, "invalid signature: high-S"),
    "log_invalid_sig_p256_high_s.json": (0, "invalid signature: high-S"),
    "log_invalid_update_nullified.json": (4, "prev bafy"),
    "log_invalid_update_tombstoned.json": (2, "the DID is tombstoned"),
}


def cases(kind: str) -> list[object]:
    folder = AUDIT_LOGS / kind
    if not folder.is_dir():
        return skipped_param(folder)
    return [pytest.param(path, id=path.stem) for path in sorted(folder.glob("*.json"))]


def load(path: Path) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = json.loads(path.read_text())
    return entries


@pytest.mark.parametrize("path", cases("valid"))
def test_valid_audit_log(path: Path) -> None:
    entries = load(path)
    data = validate_audit_log(entries)
    active = [entry for entry in entries if not entry["nullified"]]
    last = active[-1]["operation"]
    assert isinstance(last, dict)
    if last["type"] == "plc_tombstone":
        assert data is None
        return
    assert data is not None
    assert data.did == entries[0]["did"]
    normal = normalize_operation(last)
    assert data.rotation_keys == normal["rotationKeys"]
    assert data.verification_methods == normal["verificationMethods"]
    assert data.also_known_as == normal["alsoKnownAs"]
    assert data.services == normal["services"]


@pytest.mark.parametrize("path", cases("valid"))
def test_valid_audit_log_cids(path: Path) -> None:
    for entry in load(path):
        operation = entry["operation"]
        assert isinstance(operation, dict)
        assert operation_cid(operation) == entry["cid"]


@pytest.mark.parametrize("path", cases("invalid"))
def test_invalid_audit_log(path: Path) -> None:
    index, reason = INVALID[path.name]
    with pytest.raises(PlcValidationError) as caught:
        validate_audit_log(load(path))
    assert caught.value.reason.startswith(f"entry {index}: {reason}"), caught.value.reason


def test_every_invalid_case_is_known() -> None:
    folder = AUDIT_LOGS / "invalid"
    if not folder.is_dir():
        pytest.skip(f"shared fixtures not found: {folder} is missing (set STRATO_SHARED)")
    assert {path.name for path in folder.glob("*.json")} == set(INVALID)


@pytest.mark.parametrize("path", cases("valid"))
def test_valid_log_with_a_flag_flipped_is_invalid(path: Path) -> None:
    entries = load(path)
    entries[-1]["nullified"] = not entries[-1]["nullified"]
    with pytest.raises(PlcValidationError, match="nullified flag disagrees"):
        validate_audit_log(entries)


@pytest.mark.parametrize("path", cases("valid") + cases("invalid"))
def test_directory_store_replays_the_log(path: Path, tmp_path: Path) -> None:
    """The directory's store accepts each operation of a valid log at its ``createdAt`` and then
    serves the same audit log; for an invalid log it refuses the same entry and keeps what came
    before."""
    entries = load(path)
    did = entries[0]["did"]
    assert isinstance(did, str)
    failing = INVALID.get(path.name, (len(entries), ""))[0]
    store = PlcStore.open(tmp_path, sync=False)
    try:
        for index, entry in enumerate(entries):
            moment = parse_datetime(entry["createdAt"])
            if index == failing:
                with pytest.raises(PlcValidationError):
                    store.submit(did, entry["operation"], moment)
                break
            store.submit(did, entry["operation"], moment)
        served = store.audit_log(did)
    finally:
        store.close()
    if failing == len(entries):
        assert served == entries
    else:
        assert [row["cid"] for row in served] == [row["cid"] for row in entries[:failing]]
