"""Verifying repository CARs: a whole export (``com.atproto.sync.getRepo``) and a single record
with its proof (``com.atproto.sync.getRecord``).

For an export: reads the CAR (every block's hash checked), decodes the commit, walks the MST,
rebuilds the tree from the records found and requires the commit's ``data`` root, checks every
record block is present, and verifies the signature with the account's key (from a DID
document, whose ``id`` must be the commit's DID, or a bare did:key). :func:`read_repo` does
everything but the signature in one Rust call with the GIL released (a 50 MB export takes about
a second, which must not stall the threads of a server) and returns a :class:`RepoCar` that
hands out the records, nodes and blocks in small pieces; :func:`verify_repo` adds the DID and
the signature.

For a record: the commit must be the account's and signed by its key, and the MST nodes in the
CAR must lead from the commit's ``data`` root to the record's CID, whose block is in the CAR. This
is how a record fetched from an untrusted host (a lexicon schema, say) is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strato import car
from strato._core import CID, PublicKey, RepoCar, repo_verify
from strato.errors import CARError, CommitVerificationError, DecodeError, InvalidKeyError
from strato.repo import mst
from strato.repo.commit import decode_commit, verify_commit_signature

#: DID document verification method types and their curves (legacy forms).
_LEGACY_KEY_TYPES = {
    "EcdsaSecp256r1VerificationKey2019": "p256",
    "EcdsaSecp256k1VerificationKey2019": "k256",
}


@dataclass(frozen=True)
class RepoReport:
    """What a verified repository holds."""

    did: str
    rev: str | None
    version: int
    commit_cid: CID
    data_cid: CID
    records: list[tuple[str, CID]]
    signature_checked: bool
    #: The signed commit block's bytes (a ``#sync`` event's CAR carries just this block).
    commit_block: bytes


def signing_key_from_did_doc(doc: Mapping[str, Any]) -> tuple[str, str]:
    """``(did, did:key)`` of a DID document's ``#atproto`` verification method."""
    did = doc.get("id")
    if not isinstance(did, str):
        raise CommitVerificationError("malformed", "the DID document has no id")
    for method in doc.get("verificationMethod") or []:
        method_id = method.get("id", "")
        if method_id not in ("#atproto", f"{did}#atproto"):
            continue
        value = method.get("publicKeyMultibase")
        if not isinstance(value, str):
            break
        kind = method.get("type")
        if kind == "Multikey":
            return did, PublicKey.from_multikey(value).did_key()
        if kind in _LEGACY_KEY_TYPES:
            return did, PublicKey.from_multibase(value, _LEGACY_KEY_TYPES[kind]).did_key()
        raise InvalidKeyError(f"unsupported verification method type {kind!r}")
    raise CommitVerificationError("malformed", "the DID document has no #atproto key")


def load_did_doc(path: str | Path) -> tuple[str, str]:
    """``(did, did:key)`` from a DID document file."""
    return signing_key_from_did_doc(json.loads(Path(path).read_text()))


def read_repo(data: bytes, *, check_records: bool = False) -> RepoCar:
    """Checks a repository CAR's structure: block hashes, the commit (the first root), the MST
    rebuilt from its records to the commit's ``data`` root, every record block present and,
    with ``check_records``, every record a DAG-CBOR map. The signature is not checked. Raises
    ``CommitVerificationError``: ``bad_car``, ``hash_mismatch``, ``missing_block``,
    ``malformed`` or ``inversion_mismatch``."""
    return repo_verify(data, check_records=check_records)


def require_repository_of(repo: RepoCar, did: str) -> None:
    """What an import asks of a CAR beyond :func:`read_repo`: exactly one root, and a commit
    for ``did`` (CommitVerificationError ``bad_car`` or ``field_mismatch``)."""
    if len(repo.roots) != 1:
        raise CommitVerificationError("bad_car", f"the CAR has {len(repo.roots)} roots, not 1")
    if repo.did != did:
        raise CommitVerificationError(
            "field_mismatch", f"the repository is {repo.did}'s, not {did}'s"
        )


def verify_repo(
    data: bytes,
    *,
    did_key: str | None = None,
    did: str | None = None,
    strict: bool = True,
) -> RepoReport:
    """Verifies a repository CAR; raises ``CommitVerificationError`` with the reason code.

    ``did_key`` checks the signature; ``did`` (from a DID document) must equal the commit's DID.
    Lenient (``strict=False``) accepts a high-S signature.
    """
    repo = read_repo(data)
    if did is not None and did != repo.did:
        raise CommitVerificationError(
            "field_mismatch", f"the DID document is {did}, the commit is for {repo.did}"
        )
    commit_bytes = repo.commit_block
    if did_key is not None:
        verify_commit_signature(commit_bytes, did_key, allow_high_s=not strict)
    return RepoReport(
        did=repo.did,
        rev=repo.rev,
        version=repo.version,
        commit_cid=repo.commit_cid,
        data_cid=repo.data_cid,
        records=repo.records(0, repo.record_count),
        signature_checked=did_key is not None,
        commit_block=commit_bytes,
    )


@dataclass(frozen=True)
class VerifiedRecord:
    """A record proven to be in a signed commit of its repository."""

    did: str
    collection: str
    rkey: str
    cid: CID
    data: bytes
    commit_cid: CID
    rev: str | None


def verify_record_car(
    data: bytes,
    *,
    did: str,
    collection: str,
    rkey: str,
    did_key: str,
    strict: bool = True,
) -> VerifiedRecord | None:
    """Verifies a ``com.atproto.sync.getRecord`` CAR for record ``collection/rkey`` of ``did``:
    block hashes, the commit's DID and signature (``did_key``; lenient accepts high-S), and the
    MST proof from the commit's data root to the record. Returns None when the proof shows the
    record is not in the repository. Raises ``CommitVerificationError``: ``bad_car``,
    ``hash_mismatch``, ``field_mismatch``, ``bad_signature``, ``high_s``, ``missing_block``
    (the proof or the record block is incomplete) or ``malformed``."""
    try:
        roots, blocks = car.read_car(data)
    except CARError as err:
        code = "hash_mismatch" if err.reason == "block hash mismatch" else "bad_car"
        raise CommitVerificationError(code, str(err)) from err
    if len(roots) != 1:
        raise CommitVerificationError("bad_car", f"the CAR has {len(roots)} roots, not 1")
    commit_bytes = blocks.get(roots[0])
    if commit_bytes is None:
        raise CommitVerificationError("missing_block", "the commit block is not in the CAR")
    commit = decode_commit(commit_bytes)
    if commit.did != did:
        raise CommitVerificationError(
            "field_mismatch", f"the commit is for {commit.did}, not {did}"
        )
    verify_commit_signature(commit_bytes, did_key, allow_high_s=not strict)
    key = f"{collection}/{rkey}"
    try:
        cid = mst.check_record_proof(blocks, commit.data, key)
    except DecodeError as err:
        code = "missing_block" if err.reason == "MST block not found" else "malformed"
        raise CommitVerificationError(code, str(err)) from err
    if cid is None:
        return None
    record = blocks.get(cid)
    if record is None:
        raise CommitVerificationError("missing_block", f"the record block {cid} is not in the CAR")
    return VerifiedRecord(did, collection, rkey, cid, record, roots[0], commit.rev)


__all__ = [
    "RepoCar",
    "RepoReport",
    "VerifiedRecord",
    "load_did_doc",
    "read_repo",
    "require_repository_of",
    "signing_key_from_did_doc",
    "verify_record_car",
    "verify_repo",
]
