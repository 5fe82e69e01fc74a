"""Keys and signatures: the two atproto curves, ECDSA, and private keys at rest.

Both curves are supported: :data:`K256` (secp256k1, ``ES256K``, the reference's default) and
:data:`P256` (NIST P-256, ``ES256``). A signature is 64 bytes, ``r || s``, over the SHA-256 of
the message, with a low ``s``; DER-encoded and high-S signatures are invalid.

- :class:`PrivateKey` generates, loads and signs (deterministic, always low-S);
  :class:`PublicKey` parses did:key, multikey, DID-document multibase and SEC1 forms and
  verifies. Both live in the Rust core; signing and verifying release the GIL.
- :func:`verify` checks one signature against a did:key, parsed through a process-wide cache;
  :func:`verify_many` checks a list on every core in one call.
- :func:`private_key_to_pem`, :func:`private_key_from_pem`, :func:`save_private_key` and
  :func:`load_private_key` keep a private key at rest as PKCS#8 PEM (encrypted when a password
  is given), through the ``cryptography`` package.

A key that cannot be parsed raises :class:`strato.errors.InvalidKeyError` with a stable
``.reason``; a bad signature is never an exception, only ``False``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from strato._core import PrivateKey, PublicKey
from strato._core import verify_signature as verify
from strato._core import verify_signatures as verify_many
from strato.errors import InvalidKeyError
from strato.storage.private import create_temp_file

#: secp256k1.
K256: Final = "k256"
#: NIST P-256 (secp256r1, prime256v1).
P256: Final = "p256"
#: Every supported curve.
CURVES: Final = (K256, P256)

_EC_CURVES: Final[dict[str, ec.EllipticCurve]] = {
    K256: ec.SECP256K1(),
    P256: ec.SECP256R1(),
}
_CURVE_BY_EC_NAME: Final = {curve.name: name for name, curve in _EC_CURVES.items()}


def private_key_to_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted with the best available scheme when ``password`` is
    given."""
    secret = ec.derive_private_key(int.from_bytes(key.to_bytes(), "big"), _EC_CURVES[key.curve])
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return secret.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(data: bytes, password: bytes | None = None) -> PrivateKey:
    """Loads a PEM private key written by :func:`private_key_to_pem` (or any PKCS#8 or SEC1 PEM
    of a k256 or P-256 key).

    Raises :class:`InvalidKeyError` for a missing, unexpected or wrong password, a malformed
    PEM, a key that is not an elliptic-curve key, or another curve.
    """
    try:
        secret = serialization.load_pem_private_key(data, password)
    except TypeError as exc:  # cryptography's way to say the password does not fit the file
        reason = "password required" if password is None else "unexpected password"
        raise InvalidKeyError(reason) from exc
    except ValueError as exc:
        encrypted = password is not None and b"ENCRYPTED" in data
        raise InvalidKeyError("wrong password" if encrypted else "malformed PEM") from exc
    if not isinstance(secret, ec.EllipticCurvePrivateKey):
        raise InvalidKeyError("not an elliptic-curve key")
    curve = _CURVE_BY_EC_NAME.get(secret.curve.name)
    if curve is None:
        raise InvalidKeyError("unsupported curve")
    scalar = secret.private_numbers().private_value
    return PrivateKey.from_bytes(scalar.to_bytes(32, "big"), curve)


def save_private_key(
    key: PrivateKey, path: str | os.PathLike[str], password: bytes | None = None
) -> None:
    """Writes the key to ``path`` as PEM (see :func:`private_key_to_pem`), readable by the owner
    only (mode 0o600), atomically: the file is complete or left as it was."""
    target = Path(path)
    data = private_key_to_pem(key, password)
    # The file is 0600 before anything is written to it.
    fd, temporary = create_temp_file(target.parent, f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_private_key(path: str | os.PathLike[str], password: bytes | None = None) -> PrivateKey:
    """Reads a key written by :func:`save_private_key`."""
    return private_key_from_pem(Path(path).read_bytes(), password)


__all__ = [
    "CURVES",
    "K256",
    "P256",
    "PrivateKey",
    "PublicKey",
    "load_private_key",
    "private_key_from_pem",
    "private_key_to_pem",
    "save_private_key",
    "verify",
    "verify_many",
]
