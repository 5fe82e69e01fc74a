"""Which keys may have signed a repository imported into an account (``importRepo``).

An exported repository is signed by the key of the PDS it comes from, which is not the key this
PDS holds for the account once it has moved here, so the imported commit's signature is checked
against every key the account has had, in this order:

1. the signing key this PDS holds for the account (a backup of this PDS's own repository);
2. the ``#atproto`` key of the account's current DID document, resolved afresh (a did:web's
   only history);
3. for a did:plc, the ``verificationMethods.atproto`` key (the legacy ``signingKey``) of every
   operation in the DID's audit log, fetched from the configured PLC directory and replayed by
   :func:`strato.identity.plc.validate_audit_log` first (genesis hash, rotation-key signatures, the
   ``prev`` chain, nullifications), so a directory that serves a forged history is not
   believed. This is how an export from the PDS the account left verifies, during the move or
   long after the old PDS is gone.

The log is fetched only when the first two fail. Signatures must be low-S (strict), as every
commit strato accepts. The reference PDS checks no signature on import; strato refuses a
repository no key of the account ever signed.
"""

from __future__ import annotations

from strato.errors import CommitVerificationError, IdentityError, PlcValidationError
from strato.identity import IdentityResolver
from strato.identity.plc import PlcClient, normalize_operation, validate_audit_log
from strato.identity.plc.operations import ATPROTO_KEY_ID, is_tombstone
from strato.pds.keys import KeyStore
from strato.repo.commit import verify_commit_signature


async def accepted_signer(
    did: str,
    commit_block: bytes,
    *,
    keys: KeyStore,
    identity: IdentityResolver,
    plc: PlcClient,
) -> str:
    """The did:key, among the account's keys (see the module docstring), whose signature the
    imported commit carries. Raises CommitVerificationError (``bad_signature`` or ``high_s``)
    naming what was tried; an unreachable PLC directory or DID host raises its
    PlcDirectoryError or IdentityUnavailableError."""
    local = keys.signing_key(did).public_key.did_key()
    if _signed_by(commit_block, local):
        return local
    tried = ["this PDS's key for the account"]
    plc_did = did.startswith("did:plc:")
    await identity.purge(did)
    try:
        current = (await identity.resolve_did(did)).signing_key()
    except IdentityError as err:
        if not plc_did:
            raise
        tried.append(f"its DID document's key (unreadable: {err})")
    else:
        if _signed_by(commit_block, current):
            return current
        tried.append("its DID document's key")
    if plc_did:
        entries = await plc.get_audit_log(did)
        try:
            validate_audit_log(entries)
        except PlcValidationError as err:
            raise CommitVerificationError(
                "bad_signature",
                f"the commit's signature verifies against no key of the account (tried "
                f"{', '.join(tried)}), and its PLC audit log does not validate: {err.reason}",
            ) from None
        for key in dict.fromkeys(_logged_keys(entries)):
            if _signed_by(commit_block, key):
                return key
        tried.append("every signing key in its PLC audit log")
    raise CommitVerificationError(
        "bad_signature",
        f"the commit's signature verifies against no key of the account (tried {', '.join(tried)})",
    )


def _signed_by(commit_block: bytes, did_key: str) -> bool:
    try:
        verify_commit_signature(commit_block, did_key)
    except CommitVerificationError as err:
        if err.code == "high_s":
            raise
        return False
    return True


def _logged_keys(entries: list[dict[str, object]]) -> list[str]:
    """The atproto signing keys of every operation of a validated audit log, oldest first."""
    found = []
    for entry in entries:
        operation = entry["operation"]
        if not isinstance(operation, dict) or is_tombstone(operation):
            continue
        key = normalize_operation(operation)["verificationMethods"].get(ATPROTO_KEY_ID)
        if isinstance(key, str):
            found.append(key)
    return found


__all__ = ["accepted_signer"]
