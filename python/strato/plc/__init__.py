"""The did:plc method: operations, log validation, a directory server and its client.

- :mod:`strato.plc.operations`: operation shapes, building and signing, CIDs, DID derivation.
- :mod:`strato.plc.log`: a DID's operation log and the rules for new operations (signatures,
  ``prev`` chain, the 72-hour recovery window, nullification, tombstones);
  :func:`validate_audit_log` replays a whole audit log.
- :mod:`strato.plc.limits`: the directory's admission limits for submitted operations.
- :mod:`strato.plc.document`: the DID document the directory serves.
- :mod:`strato.plc.store` and :mod:`strato.plc.server`: the directory (LMDB, Starlette).
- :mod:`strato.plc.client`: :class:`PlcClient`, an HTTP client for any PLC directory.

Spec: did-method-plc ``website/spec/v0.1/did-plc.md`` (v0.3.0). Errors are
:class:`strato.errors.PlcValidationError` (a ``ValueError``) with a ``reason``.
"""

from __future__ import annotations

from strato.plc.client import PlcClient
from strato.plc.log import DidData, DidLog, LogEntry, validate_audit_log
from strato.plc.operations import (
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
