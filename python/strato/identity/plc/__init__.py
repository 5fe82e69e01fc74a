"""The did:plc method, for every service that creates, updates or checks a did:plc identity:
operations, log validation and a client of any PLC directory.

- :mod:`strato.identity.plc.operations`: operation shapes, building and signing, CIDs, DID
  derivation.
- :mod:`strato.identity.plc.log`: a DID's operation log and the rules for new operations
  (signatures, ``prev`` chain, the 72-hour recovery window, nullification, tombstones);
  :func:`validate_audit_log` replays a whole audit log.
- :mod:`strato.identity.plc.client`: :class:`PlcClient`, an HTTP client for any PLC directory.

The directory itself, a service, is :mod:`strato.plc`. Spec: did-method-plc
``website/spec/v0.1/did-plc.md`` (v0.3.0). Errors are
:class:`strato.errors.PlcValidationError` (a ``ValueError``) with a ``reason``.
"""

from __future__ import annotations

from strato.identity.plc.client import PlcClient
from strato.identity.plc.log import DidData, DidLog, LogEntry, validate_audit_log
from strato.identity.plc.operations import (
    build_operation,
    build_tombstone,
    create_genesis,
    create_tombstone,
    create_update,
    did_for_genesis,
    normalize_operation,
    operation_cid,
    parse_operation,
    sign_operation,
    verify_operation_signature,
)

__all__ = [
    "DidData",
    "DidLog",
    "LogEntry",
    "PlcClient",
    "build_operation",
    "build_tombstone",
    "create_genesis",
    "create_tombstone",
    "create_update",
    "did_for_genesis",
    "normalize_operation",
    "operation_cid",
    "parse_operation",
    "sign_operation",
    "validate_audit_log",
    "verify_operation_signature",
]
