"""did:plc operations: their shapes, signatures, CIDs and the DID a genesis operation names.

Spec: did-method-plc ``website/spec/v0.1/did-plc.md`` (v0.3.0). An operation is a JSON object
of one of three types:

- ``plc_operation``: ``rotationKeys``, ``verificationMethods``, ``alsoKnownAs``, ``services``,
  ``prev`` (the CID string of the previous operation, ``null`` in a genesis operation) and
  ``sig``;
- ``plc_tombstone``: ``prev`` and ``sig``; it ends the DID;
- ``create``: the legacy genesis format (``signingKey``, ``recoveryKey``, ``handle``,
  ``service``, ``prev: null``, ``sig``), valid only as the first operation of old DIDs and read
  as the ``plc_operation`` that :func:`normalize_operation` returns.

Tricky bits:

- The signature covers the DAG-CBOR of the operation *without* the ``sig`` key (absent, not
  null): SHA-256 then ECDSA (k256 or P-256), 64 bytes ``r || s`` with a low ``s``, written as
  base64url without padding. Verification is strict: padding, line breaks, non-zero pad bits,
  DER and high-S are all invalid.
- The CID of an operation, and the DID of a genesis operation, are computed over the *signed*
  operation: the DID is ``did:plc:`` + the first 24 characters of the lowercase base32 of the
  SHA-256 of its DAG-CBOR.
- Operations are plain dicts (the JSON form); :func:`parse_operation` checks one has exactly the
  fields of its type, with the right JSON types, before anything else looks at it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Final

from strato import dagcbor
from strato._core import CID
from strato.crypto import PrivateKey, PublicKey, verify
from strato.errors import EncodeError, InvalidKeyError, PlcValidationError

OPERATION: Final = "plc_operation"
TOMBSTONE: Final = "plc_tombstone"
LEGACY_CREATE: Final = "create"

#: The atproto verification method and service ids (map keys carry no ``#``).
ATPROTO_KEY_ID: Final = "atproto"
ATPROTO_PDS_ID: Final = "atproto_pds"
ATPROTO_PDS_TYPE: Final = "AtprotoPersonalDataServer"

_FIELDS: Final[dict[str, frozenset[str]]] = {
    OPERATION: frozenset(
        ("type", "rotationKeys", "verificationMethods", "alsoKnownAs", "services", "prev", "sig")
    ),
    TOMBSTONE: frozenset(("type", "prev", "sig")),
    LEGACY_CREATE: frozenset(
        ("type", "signingKey", "recoveryKey", "handle", "service", "prev", "sig")
    ),
}
_SERVICE_FIELDS: Final = frozenset(("type", "endpoint"))
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
_DID_PLC: Final = re.compile(r"did:plc:[a-z2-7]{24}")
SIGNATURE_LENGTH: Final = 64
#: The first byte of a DER signature (an ASN.1 SEQUENCE), used only to explain a failure.
_DER_SEQUENCE: Final = 0x30
#: Half the group order of each curve: a signature with a larger ``s`` is high-S.
_HALF_ORDER: Final = {
    "k256": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2,
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 // 2,
}

Operation = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Shape


def parse_operation(value: object, *, allow_unsigned: bool = False) -> Operation:
    """``value`` as an operation, after checking it has exactly the fields of its type with the
    right JSON types (and ``sig``, unless ``allow_unsigned``). Raises
    :class:`PlcValidationError` naming the first problem."""
    if not isinstance(value, dict):
        raise PlcValidationError("operation is not a JSON object")
    op_type = value.get("type")
    if not isinstance(op_type, str) or op_type not in _FIELDS:
        raise PlcValidationError(f"unknown operation type {op_type!r}")
    expected = _FIELDS[op_type]
    present = set(value)
    if allow_unsigned:
        present.add("sig")
    extra = sorted(present - expected)
    if extra:
        raise PlcValidationError(f"{op_type} has unexpected fields: {', '.join(extra)}")
    missing = sorted(expected - present)
    if missing:
        raise PlcValidationError(f"{op_type} is missing fields: {', '.join(missing)}")
    if "sig" in value:
        _require_str(value, "sig")
    if op_type == OPERATION:
        _check_regular(value)
    elif op_type == TOMBSTONE:
        _require_str(value, "prev")
    else:
        for name in ("signingKey", "recoveryKey", "handle", "service"):
            _require_str(value, name)
        if value["prev"] is not None:
            raise PlcValidationError("a legacy create operation must have a null prev")
    return value


def _check_regular(op: Operation) -> None:
    if op["prev"] is not None:
        _require_str(op, "prev")
    for name in ("rotationKeys", "alsoKnownAs"):
        items = op[name]
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise PlcValidationError(f"{name} must be a list of strings")
    methods = op["verificationMethods"]
    if not isinstance(methods, dict) or not all(isinstance(v, str) for v in methods.values()):
        raise PlcValidationError("verificationMethods must map ids to did:key strings")
    services = op["services"]
    if not isinstance(services, dict):
        raise PlcValidationError("services must be an object")
    for service_id, service in services.items():
        if (
            not isinstance(service, dict)
            or set(service) != _SERVICE_FIELDS
            or not all(isinstance(v, str) for v in service.values())
        ):
            raise PlcValidationError(
                f"service {service_id!r} must be an object with exactly the string fields "
                "type and endpoint"
            )


def _require_str(op: Operation, name: str) -> None:
    if not isinstance(op[name], str):
        raise PlcValidationError(f"{name} must be a string")


def is_tombstone(op: Operation) -> bool:
    """Whether ``op`` is a ``plc_tombstone``."""
    return bool(op["type"] == TOMBSTONE)


def normalize_operation(op: Operation) -> Operation:
    """A legacy ``create`` operation in ``plc_operation`` form (rotation keys: the recovery key,
    then the signing key; the handle as ``at://`` alias; the service as the atproto PDS); any
    other operation as it is."""
    if op["type"] != LEGACY_CREATE:
        return op
    return {
        "type": OPERATION,
        "verificationMethods": {ATPROTO_KEY_ID: op["signingKey"]},
        "rotationKeys": [op["recoveryKey"], op["signingKey"]],
        "alsoKnownAs": [ensure_at_prefix(op["handle"])],
        "services": {
            ATPROTO_PDS_ID: {
                "type": ATPROTO_PDS_TYPE,
                "endpoint": ensure_http_prefix(op["service"]),
            }
        },
        "prev": op["prev"],
        "sig": op["sig"],
    }


def rotation_keys(op: Operation) -> list[str]:
    """The keys that may sign the operation after ``op`` (none after a tombstone)."""
    if is_tombstone(op):
        return []
    keys: list[str] = normalize_operation(op)["rotationKeys"]
    return keys


def ensure_at_prefix(handle: str) -> str:
    """``handle`` as an ``at://`` URI (an ``http(s)://`` prefix is dropped)."""
    if handle.startswith("at://"):
        return handle
    return "at://" + handle.removeprefix("https://").removeprefix("http://")


def ensure_http_prefix(endpoint: str) -> str:
    """``endpoint`` with ``https://`` added unless it already names http or https."""
    if endpoint.startswith(("http://", "https://")):
        return endpoint
    return "https://" + endpoint


def is_plc_did(value: str) -> bool:
    """Whether ``value`` has the syntax of a did:plc (``did:plc:`` + 24 of ``a-z2-7``)."""
    return _DID_PLC.fullmatch(value) is not None


# ---------------------------------------------------------------------------------------------
# Bytes: DAG-CBOR, CID, DID


def signed_bytes(op: Operation) -> bytes:
    """The DAG-CBOR of the whole operation, ``sig`` included (hashed for its CID and DID)."""
    return _encode(op)


def unsigned_bytes(op: Operation) -> bytes:
    """The DAG-CBOR of the operation without its ``sig`` key (what the signature covers)."""
    return _encode({key: value for key, value in op.items() if key != "sig"})


def _encode(value: Operation) -> bytes:
    try:
        return dagcbor.encode(value)
    except EncodeError as err:
        raise PlcValidationError(f"operation has no DAG-CBOR form: {err.reason}") from err


def operation_cid(op: Operation) -> str:
    """The CID (CIDv1, dag-cbor, sha2-256, base32) of the signed operation, as ``prev`` names
    it."""
    return CID.compute(signed_bytes(op), "dag-cbor").encode()


def did_for_genesis(op: Operation) -> str:
    """The DID that the signed genesis operation ``op`` creates."""
    digest = hashlib.sha256(signed_bytes(op)).digest()
    return "did:plc:" + base64.b32encode(digest).decode("ascii").lower()[:24]


# ---------------------------------------------------------------------------------------------
# Signatures


def sign_operation(unsigned: Operation, key: PrivateKey) -> Operation:
    """``unsigned`` with its ``sig``: ``key``'s signature over its DAG-CBOR."""
    body = {name: value for name, value in unsigned.items() if name != "sig"}
    signature = key.sign(unsigned_bytes(body))
    return {**body, "sig": base64.urlsafe_b64encode(signature).decode("ascii").rstrip("=")}


def decode_signature(sig: str) -> bytes:
    """The bytes of a ``sig`` field, which must be canonical base64url without padding (no
    ``=``, no line breaks or other characters, zero pad bits) and 64 bytes long."""
    if _BASE64URL.fullmatch(sig) is None:
        raise PlcValidationError(
            "signature is not base64url without padding (it holds '=', a line break or another "
            "character outside A-Z a-z 0-9 - _)"
        )
    if len(sig) % 4 == 1:
        raise PlcValidationError("signature is not valid base64url (impossible length)")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != sig:
        raise PlcValidationError("signature is not canonical base64url (non-zero pad bits)")
    if len(raw) != SIGNATURE_LENGTH:
        raise PlcValidationError(
            f"signature is {len(raw)} bytes, not 64 (r || s); DER signatures are invalid"
        )
    return raw


def verify_operation_signature(op: Operation, keys: list[str]) -> int:
    """The index of the first of ``keys`` (did:keys) whose signature ``op`` carries.

    Raises :class:`PlcValidationError` when the signature is malformed (see
    :func:`decode_signature`), when a key that has to be tried is not a k256 or P-256 did:key,
    and when no key verifies it (saying so when the signature is high-S)."""
    signature = decode_signature(op["sig"])
    if not keys:
        raise PlcValidationError("no rotation key may sign this operation (the key list is empty)")
    message = unsigned_bytes(op)
    for index, key in enumerate(keys):
        try:
            if verify(key, message, signature):
                return index
        except InvalidKeyError as err:
            raise PlcValidationError(
                f"rotation key {key!r} is not a valid k256 or p256 did:key: {err.reason}"
            ) from err
    if signature[0] == _DER_SEQUENCE and signature[1] == len(signature) - 2:
        raise PlcValidationError("invalid signature: DER-encoded (signatures must be r || s)")
    s = int.from_bytes(signature[32:], "big")
    if any(s > _HALF_ORDER[PublicKey.from_did_key(key).curve] for key in keys):
        raise PlcValidationError("invalid signature: high-S (signatures must be low-S)")
    raise PlcValidationError("invalid signature: not signed by any of the allowed rotation keys")


# ---------------------------------------------------------------------------------------------
# Building operations


def build_operation(
    *,
    rotation_keys: list[str],
    verification_methods: dict[str, str],
    also_known_as: list[str],
    services: dict[str, dict[str, str]],
    prev: str | None,
) -> Operation:
    """An unsigned ``plc_operation`` (sign it with :func:`sign_operation`)."""
    return {
        "type": OPERATION,
        "rotationKeys": list(rotation_keys),
        "verificationMethods": dict(verification_methods),
        "alsoKnownAs": list(also_known_as),
        "services": {name: dict(service) for name, service in services.items()},
        "prev": prev,
    }


def build_tombstone(prev: str) -> Operation:
    """An unsigned ``plc_tombstone`` following the operation whose CID is ``prev``."""
    return {"type": TOMBSTONE, "prev": prev}


def atproto_services(pds_endpoint: str) -> dict[str, dict[str, str]]:
    """The ``services`` map naming ``pds_endpoint`` as the account's atproto PDS."""
    return {
        ATPROTO_PDS_ID: {"type": ATPROTO_PDS_TYPE, "endpoint": ensure_http_prefix(pds_endpoint)}
    }


def create_genesis(
    *,
    signing_key: str,
    rotation_keys: list[str],
    handle: str,
    pds_endpoint: str,
    signer: PrivateKey,
) -> tuple[Operation, str]:
    """A signed atproto genesis operation and the DID it creates: ``signing_key`` (a did:key)
    as the ``atproto`` verification method, ``rotation_keys`` in priority order, the handle as
    ``at://`` alias and the PDS service. ``signer`` must hold one of the rotation keys."""
    unsigned = build_operation(
        rotation_keys=rotation_keys,
        verification_methods={ATPROTO_KEY_ID: signing_key},
        also_known_as=[ensure_at_prefix(handle)],
        services=atproto_services(pds_endpoint),
        prev=None,
    )
    op = sign_operation(unsigned, signer)
    return op, did_for_genesis(op)


def create_update(
    last_op: Operation,
    signer: PrivateKey,
    *,
    handle: str | None = None,
    pds_endpoint: str | None = None,
    signing_key: str | None = None,
    rotation_keys: list[str] | None = None,
) -> Operation:
    """A signed ``plc_operation`` following ``last_op`` (the DID's latest operation), with the
    given fields changed: the first ``at://`` alias replaced by the handle, the atproto PDS
    endpoint, the ``atproto`` verification method, or the rotation keys."""
    if is_tombstone(last_op):
        raise PlcValidationError("the DID is tombstoned: no operation may follow a tombstone")
    current = normalize_operation(last_op)
    also_known_as = list(current["alsoKnownAs"])
    if handle is not None:
        uri = ensure_at_prefix(handle)
        position = next((i for i, aka in enumerate(also_known_as) if aka.startswith("at://")), None)
        if position is None:
            also_known_as.insert(0, uri)
        else:
            also_known_as[position] = uri
    services = dict(current["services"])
    if pds_endpoint is not None:
        services.update(atproto_services(pds_endpoint))
    methods = dict(current["verificationMethods"])
    if signing_key is not None:
        methods[ATPROTO_KEY_ID] = signing_key
    unsigned = build_operation(
        rotation_keys=current["rotationKeys"] if rotation_keys is None else rotation_keys,
        verification_methods=methods,
        also_known_as=also_known_as,
        services=services,
        prev=operation_cid(last_op),
    )
    return sign_operation(unsigned, signer)


def create_tombstone(last_op: Operation, signer: PrivateKey) -> Operation:
    """A signed tombstone following ``last_op``."""
    return sign_operation(build_tombstone(operation_cid(last_op)), signer)
