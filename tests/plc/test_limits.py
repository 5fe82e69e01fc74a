"""The directory's admission limits (``strato.plc.limits``), one test per limit, at the limit
and one past it."""

from __future__ import annotations

from typing import Any

import pytest
from plc_helpers import EPOCH, HOUR, did_key, genesis, key
from strato.errors import PlcValidationError
from strato.identity.plc import create_tombstone
from strato.plc.limits import (
    MAX_AKA_ENTRIES,
    MAX_AKA_LENGTH,
    MAX_DID_KEY_LENGTH,
    MAX_ID_LENGTH,
    MAX_OP_BYTES,
    MAX_ROTATION_ENTRIES,
    MAX_SERVICE_ENDPOINT_LENGTH,
    MAX_SERVICE_ENTRIES,
    MAX_SERVICE_TYPE_LENGTH,
    MAX_VERIFICATION_METHOD_ENTRIES,
    check_admission,
    check_rate,
)

NOW = EPOCH + 30 * 24 * HOUR
SIGNING = "did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ"


def op_with(**fields: Any) -> dict[str, Any]:
    op, _ = genesis([key("rot")])
    return {**op, **fields}


def service(endpoint: str = "https://pds.test", kind: str = "T") -> dict[str, str]:
    return {"type": kind, "endpoint": endpoint}


def test_the_reference_numbers() -> None:
    assert (MAX_OP_BYTES, MAX_AKA_ENTRIES, MAX_AKA_LENGTH, MAX_ROTATION_ENTRIES) == (
        4000,
        10,
        258,
        10,
    )
    assert (MAX_SERVICE_ENTRIES, MAX_SERVICE_TYPE_LENGTH, MAX_SERVICE_ENDPOINT_LENGTH) == (
        10,
        256,
        512,
    )
    assert (MAX_VERIFICATION_METHOD_ENTRIES, MAX_ID_LENGTH, MAX_DID_KEY_LENGTH) == (10, 32, 256)


def test_ordinary_operation_and_tombstone_pass() -> None:
    op, _ = genesis([key("rot")])
    assert check_admission(op) is op
    tombstone = create_tombstone(op, key("rot"))
    assert check_admission(tombstone) is tombstone


ROTATION = [did_key(key(f"r{i}")) for i in range(MAX_ROTATION_ENTRIES + 1)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"alsoKnownAs": [f"at://{i}.test" for i in range(MAX_AKA_ENTRIES + 1)]},
            "too many alsoKnownAs entries (max 10)",
        ),
        (
            {"alsoKnownAs": ["at://" + "a" * (MAX_AKA_LENGTH - 4)]},
            "alsoKnownAs entry too long (max 258)",
        ),
        ({"alsoKnownAs": ["at://a.test", "at://a.test"]}, "duplicate alsoKnownAs entry"),
        ({"rotationKeys": ROTATION}, "too many rotationKeys entries (max 10)"),
        ({"rotationKeys": ["did:key:zNope"]}, "invalid rotation key (not a k256 or p256"),
        (
            {"services": {f"s{i}": service() for i in range(MAX_SERVICE_ENTRIES + 1)}},
            "too many service entries (max 10)",
        ),
        ({"services": {"s" * (MAX_ID_LENGTH + 1): service()}}, "service id too long (max 32)"),
        (
            {"services": {"s": service(kind="t" * (MAX_SERVICE_TYPE_LENGTH + 1))}},
            "service type too long (max 256)",
        ),
        (
            {"services": {"s": service("h" * (MAX_SERVICE_ENDPOINT_LENGTH + 1))}},
            "service endpoint too long (max 512)",
        ),
        (
            {
                "verificationMethods": {
                    f"m{i}": SIGNING for i in range(MAX_VERIFICATION_METHOD_ENTRIES + 1)
                }
            },
            "too many verificationMethods entries (max 10)",
        ),
        (
            {"verificationMethods": {"m" * (MAX_ID_LENGTH + 1): SIGNING}},
            "verification method id too long (max 32)",
        ),
        (
            {"verificationMethods": {"m": "did:key:z" + "a" * MAX_DID_KEY_LENGTH}},
            "verification method key too long (max 256)",
        ),
        ({"verificationMethods": {"m": "zQ3sh"}}, "invalid verificationMethod key"),
        ({"verificationMethods": {"m": "did:key:mAAAA"}}, "invalid verificationMethod key"),
        ({"verificationMethods": {"m": "did:key:z0OIl"}}, "invalid verificationMethod key"),
        ({"verificationMethods": {"m": "did:key:z"}}, "invalid verificationMethod key"),
        ({"extra": "x"}, "plc_operation has unexpected fields: extra"),
    ],
)
def test_limit_broken(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(PlcValidationError) as caught:
        check_admission(op_with(**fields))
    assert caught.value.reason.startswith(reason), caught.value.reason


def test_values_at_the_limits_pass() -> None:
    op = op_with(
        alsoKnownAs=["at://" + "a" * (MAX_AKA_LENGTH - 5)],
        rotationKeys=ROTATION[:MAX_ROTATION_ENTRIES],
        services={"s" * MAX_ID_LENGTH: service("h" * 300, "t" * MAX_SERVICE_TYPE_LENGTH)},
        verificationMethods={"m": "did:key:zAnyBase58KeyType"},
    )
    assert check_admission(op) is op


def test_operation_too_large() -> None:
    op = op_with(services={f"s{i}": service("h" * 500) for i in range(MAX_SERVICE_ENTRIES)})
    with pytest.raises(PlcValidationError) as caught:
        check_admission(op)
    assert caught.value.reason.startswith("operation too large (")
    assert caught.value.reason.endswith("4000 bytes maximum in DAG-CBOR)")


def test_legacy_create_is_not_admitted() -> None:
    legacy = {
        "type": "create",
        "signingKey": SIGNING,
        "recoveryKey": SIGNING,
        "handle": "a.test",
        "service": "https://pds.test",
        "prev": None,
        "sig": "x",
    }
    with pytest.raises(PlcValidationError, match="legacy create operations are no longer"):
        check_admission(legacy)


def test_value_without_dag_cbor_form() -> None:
    with pytest.raises(PlcValidationError, match="not a valid operation"):
        check_admission({"type": "plc_tombstone", "prev": 1.5, "sig": "x"})


DAY = 24 * HOUR


@pytest.mark.parametrize(
    ("created_at", "reason"),
    [
        ([NOW - HOUR + 1] * 10, "too many operations within the last hour (max 10)"),
        ([NOW - DAY + 1] * 30, "too many operations within the last day (max 30)"),
        ([NOW - 7 * DAY + 1] * 100, "too many operations within the last week (max 100)"),
    ],
)
def test_rate_limit_reached(created_at: list[int], reason: str) -> None:
    with pytest.raises(PlcValidationError) as caught:
        check_rate(created_at, NOW)
    assert caught.value.reason == reason


def test_rate_limit_not_reached() -> None:
    check_rate([NOW - HOUR] * 10 + [NOW] * 9, NOW)
    check_rate([NOW - DAY] * 30 + [NOW - HOUR] * 20, NOW)
    check_rate([NOW - 7 * DAY] * 100 + [NOW - DAY] * 60, NOW)
