"""The admission limits a PLC directory applies to a submitted operation (``POST /:did``).

These are directory policy, not protocol: :func:`strato.identity.plc.validate_audit_log` does not
apply them to history (which holds operations from before they existed). Every number is the
reference directory's, from did-method-plc ``packages/server/src/constraints.ts``
(``assertValidIncomingOp``). Where the spec text (``website/spec/v0.1/did-plc.md``, v0.3.0)
says otherwise, the reference server wins, since that is what clients meet in practice:

- the spec allows 7,500 bytes of DAG-CBOR per operation; the server 4,000 (``MAX_OP_BYTES``);
- the spec asks for 1 to 5 rotation keys; the server accepts 0 to 10
  (``MAX_ROTATION_ENTRIES``; the interop fixtures hold an accepted empty list).

A submitted operation must also be a ``plc_operation`` or ``plc_tombstone``: legacy ``create``
operations are read, never accepted.

The per-DID rate limits (``enforceOpsRateLimit``: fewer than 10 operations an hour, 30 a day,
100 a week, recovery forks exempt) are applied by :func:`check_rate` only when the directory
is started with them on: a local test network updates handles far more often than that.
"""

from __future__ import annotations

from typing import Final

from strato import dagcbor
from strato.crypto import PublicKey
from strato.errors import EncodeError, InvalidKeyError, PlcValidationError
from strato.identity.plc.operations import LEGACY_CREATE, Operation, is_tombstone, parse_operation

#: constraints.ts ``MAX_OP_BYTES``: the DAG-CBOR size of the whole (signed) operation.
MAX_OP_BYTES: Final = 4000
#: constraints.ts ``MAX_AKA_ENTRIES``.
MAX_AKA_ENTRIES: Final = 10
#: constraints.ts ``MAX_AKA_LENGTH``: a 253-character handle plus ``at://``.
MAX_AKA_LENGTH: Final = 258
#: constraints.ts ``MAX_ROTATION_ENTRIES``.
MAX_ROTATION_ENTRIES: Final = 10
#: constraints.ts ``MAX_SERVICE_ENTRIES``.
MAX_SERVICE_ENTRIES: Final = 10
#: constraints.ts ``MAX_SERVICE_TYPE_LENGTH``.
MAX_SERVICE_TYPE_LENGTH: Final = 256
#: constraints.ts ``MAX_SERVICE_ENDPOINT_LENGTH``.
MAX_SERVICE_ENDPOINT_LENGTH: Final = 512
#: constraints.ts ``MAX_VERIFICATION_METHOD_ENTRIES``.
MAX_VERIFICATION_METHOD_ENTRIES: Final = 10
#: constraints.ts ``MAX_ID_LENGTH``: service and verification method ids.
MAX_ID_LENGTH: Final = 32
#: constraints.ts ``MAX_DID_KEY_LENGTH``: a verification method's did:key (k256 is 57).
MAX_DID_KEY_LENGTH: Final = 256

_HOUR: Final = 3600 * 1_000_000
#: constraints.ts ``HOUR_LIMIT``, ``DAY_LIMIT``, ``WEEK_LIMIT``: (window in µs, how many
#: operations already in that window make the next one wait).
RATE_LIMITS: Final = ((_HOUR, 10, "hour"), (24 * _HOUR, 30, "day"), (7 * 24 * _HOUR, 100, "week"))

_BASE58BTC: Final = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


def check_admission(value: object) -> Operation:
    """``value`` as an operation the directory may accept, or :class:`PlcValidationError`
    naming the limit it breaks. The log rules (:meth:`strato.identity.plc.DidLog.prepare`) come
    after."""
    try:
        size = len(dagcbor.encode(value))
    except EncodeError as err:
        raise PlcValidationError(f"not a valid operation: {err.reason}") from err
    if size > MAX_OP_BYTES:
        raise PlcValidationError(
            f"operation too large ({size} bytes; {MAX_OP_BYTES} bytes maximum in DAG-CBOR)"
        )
    op = parse_operation(value)
    if op["type"] == LEGACY_CREATE:
        raise PlcValidationError("legacy create operations are no longer accepted")
    if is_tombstone(op):
        return op
    _check_also_known_as(op["alsoKnownAs"])
    _check_rotation_keys(op["rotationKeys"])
    _check_services(op["services"])
    _check_verification_methods(op["verificationMethods"])
    return op


def _check_also_known_as(also_known_as: list[str]) -> None:
    if len(also_known_as) > MAX_AKA_ENTRIES:
        raise PlcValidationError(f"too many alsoKnownAs entries (max {MAX_AKA_ENTRIES})")
    seen: set[str] = set()
    for aka in also_known_as:
        if len(aka) > MAX_AKA_LENGTH:
            raise PlcValidationError(f"alsoKnownAs entry too long (max {MAX_AKA_LENGTH}): {aka}")
        if aka in seen:
            raise PlcValidationError(f"duplicate alsoKnownAs entry: {aka}")
        seen.add(aka)


def _check_rotation_keys(keys: list[str]) -> None:
    if len(keys) > MAX_ROTATION_ENTRIES:
        raise PlcValidationError(f"too many rotationKeys entries (max {MAX_ROTATION_ENTRIES})")
    for key in keys:
        try:
            PublicKey.from_did_key(key)
        except InvalidKeyError as err:
            raise PlcValidationError(
                f"invalid rotation key (not a k256 or p256 did:key: {err.reason}): {key}"
            ) from err


def _check_services(services: dict[str, dict[str, str]]) -> None:
    if len(services) > MAX_SERVICE_ENTRIES:
        raise PlcValidationError(f"too many service entries (max {MAX_SERVICE_ENTRIES})")
    for service_id, service in services.items():
        if len(service_id) > MAX_ID_LENGTH:
            raise PlcValidationError(f"service id too long (max {MAX_ID_LENGTH}): {service_id}")
        if len(service["type"]) > MAX_SERVICE_TYPE_LENGTH:
            raise PlcValidationError(f"service type too long (max {MAX_SERVICE_TYPE_LENGTH})")
        if len(service["endpoint"]) > MAX_SERVICE_ENDPOINT_LENGTH:
            raise PlcValidationError(
                f"service endpoint too long (max {MAX_SERVICE_ENDPOINT_LENGTH})"
            )


def _check_verification_methods(methods: dict[str, str]) -> None:
    if len(methods) > MAX_VERIFICATION_METHOD_ENTRIES:
        raise PlcValidationError(
            f"too many verificationMethods entries (max {MAX_VERIFICATION_METHOD_ENTRIES})"
        )
    for method_id, key in methods.items():
        if len(method_id) > MAX_ID_LENGTH:
            raise PlcValidationError(
                f"verification method id too long (max {MAX_ID_LENGTH}): {method_id}"
            )
        if len(key) > MAX_DID_KEY_LENGTH:
            raise PlcValidationError(
                f"verification method key too long (max {MAX_DID_KEY_LENGTH}): {key}"
            )
        # As the reference: only did:key syntax with a base58btc multibase, any key type.
        multibase = key.removeprefix("did:key:")
        if (
            multibase == key
            or not multibase.startswith("z")
            or len(multibase) < 2
            or not set(multibase[1:]) <= _BASE58BTC
        ):
            raise PlcValidationError(f"invalid verificationMethod key: {key}")


def check_rate(created_at: list[int], now: int) -> None:
    """Refuse another operation when the DID's current operations (their ``createdAt``, µs)
    already fill one of the :data:`RATE_LIMITS` windows ending at ``now``."""
    for window, limit, name in RATE_LIMITS:
        if sum(1 for moment in created_at if moment > now - window) >= limit:
            raise PlcValidationError(f"too many operations within the last {name} (max {limit})")
