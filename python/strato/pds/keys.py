"""Private keys of the PDS, encrypted at rest: each account's repo signing key (k256), the PDS's
did:plc rotation key, and signing keys reserved for accounts about to migrate in.

Keys live in the PDS's LMDB store (tables :data:`KEY_TABLES`), so an account's key is written
in the same transaction as the account, and a backup of the store carries them, still
encrypted. What decrypts them is the **master key**: 32 random bytes written as 64 hex digits,
read from the environment variable :data:`MASTER_KEY_ENV` or else from a file (the PDS creates
one, mode 0600, on its first start). Keep it apart from backups of the data.

Each private key's 32 raw bytes are sealed with AES-256-GCM under a key derived from the master
key with HKDF-SHA256; a fresh 96-bit nonce per seal; the table and name of the row (for
example ``signing NUL did:plc:...``) are the associated data. Why this and not an encrypted
PKCS#8 PEM per key (:func:`strato.crypto.save_private_key`)? PEM encryption runs a password KDF
on every load, which buys nothing when the secret is 256 random bits and costs milliseconds per
account whenever a key is loaded to sign a commit; GCM is authenticated, so a wrong master key
or an altered row fails with a clear :class:`~strato.errors.KeyStoreError` instead of yielding a
wrong key; and the associated data ties a sealed key to its row, so a row copied onto another
account does not decrypt. A check value sealed on first use lets :class:`KeyStore` refuse a
wrong master key when it opens, before any account is touched.

``reserveSigningKey`` (account migration): a key reserved for a DID, or for no DID yet (then
found by its did:key), waits in ``reserved_keys`` until the account is created with it.
"""

from __future__ import annotations

import os
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from strato.crypto import K256, PrivateKey
from strato.errors import InvalidKeyError, KeyStoreError
from strato.storage import ReadTxn, Store, WriteTxn
from strato.storage.private import create_temp_file

#: The tables the key store uses; include them in the PDS's :class:`Store`.
KEY_TABLES: Final = ("signing_keys", "reserved_keys", "service_keys")
#: The environment variable that may hold the master key (64 hex digits).
MASTER_KEY_ENV: Final = "STRATO_PDS_MASTER_KEY"

_MASTER_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_SEAL_VERSION: Final = 1
_HKDF_INFO: Final = b"strato pds private keys at rest v1"
#: Unsealed keys kept in memory, by their sealed row (the least recently used go first).
UNSEALED_CACHE_SIZE: Final = 4096
_CHECK_NAME: Final = "master-key-check"
_ROTATION_NAME: Final = "plc-rotation"
_CHECK_VALUE: Final = b"strato master key check"


class MasterKey:
    """The secret that seals private keys at rest. Its bytes are never written by strato
    except by :meth:`write`."""

    __slots__ = ("_aead", "_secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _MASTER_KEY_BYTES:
            raise KeyStoreError(f"a master key is {_MASTER_KEY_BYTES} bytes, not {len(secret)}")
        self._secret = secret
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret
        )
        self._aead = AESGCM(derived)

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random master key."""
        return cls(secrets.token_bytes(_MASTER_KEY_BYTES))

    @classmethod
    def from_hex(cls, text: str) -> MasterKey:
        """A master key written as 64 hex digits (surrounding whitespace ignored)."""
        digits = text.strip()
        if len(digits) != 2 * _MASTER_KEY_BYTES:
            raise KeyStoreError(f"a master key is {2 * _MASTER_KEY_BYTES} hex digits")
        try:
            return cls(bytes.fromhex(digits))
        except ValueError:
            raise KeyStoreError("a master key is written in hex digits only") from None

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> MasterKey:
        """The master key in the file ``path``."""
        try:
            text = Path(path).read_text(encoding="ascii")
        except FileNotFoundError:
            raise KeyStoreError(f"no master key file at {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise KeyStoreError(f"cannot read the master key file {path}: {err}") from err
        return cls.from_hex(text)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        environ: Mapping[str, str] = os.environ,
        *,
        create: bool = False,
    ) -> MasterKey:
        """The master key from :data:`MASTER_KEY_ENV` if it is set, else from the file
        ``path``; with ``create``, a missing file is created with a new key (a first start)."""
        value = environ.get(MASTER_KEY_ENV)
        if value:
            return cls.from_hex(value)
        if create and not Path(path).exists():
            key = cls.generate()
            key.write(path)
            return key
        return cls.read(path)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the key to the new file ``path`` (mode 0600, complete or absent); an existing
        file is never replaced."""
        target = Path(path)
        fd, temporary = create_temp_file(target.parent, f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(self._secret.hex() + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, target)  # fails if the target exists
        except FileExistsError:
            raise KeyStoreError(f"{target} exists; not replacing a master key") from None
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def derive_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for ``purpose`` (the session-token key, say), derived from the
        master key, so the PDS keeps no other secret on disk."""
        info = b"strato pds secret v1: " + purpose.encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self._secret)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` encrypted and authenticated, bound to ``context``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return bytes([_SEAL_VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plaintext of :meth:`seal`'s output; :class:`KeyStoreError` when it was sealed
        under another master key or context, or altered."""
        if len(sealed) < 1 + _NONCE_BYTES or sealed[0] != _SEAL_VERSION:
            raise KeyStoreError("sealed key has an unknown format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context)
        except InvalidTag:
            raise KeyStoreError(
                "a stored key does not decrypt: wrong master key, or the data was altered"
            ) from None


class _StoredKey(msgspec.Struct, array_like=True):
    curve: str
    sealed: bytes


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(_StoredKey)


class KeyStore:
    """Sealed private keys in the PDS's store. Opening checks the master key: a key other
    than the one the store was first used with raises :class:`KeyStoreError` at once. A method
    that writes takes the transaction as its first argument (None: one of its own)."""

    def __init__(self, store: Store, master_key: MasterKey) -> None:
        self._store = store
        self._master = master_key
        self._unsealed: OrderedDict[tuple[str, bytes], PrivateKey] = OrderedDict()
        self._store.transact(self._check_master_key)

    def _check_master_key(self, txn: WriteTxn) -> None:
        context = _context("service_keys", _CHECK_NAME)
        stored = txn.get("service_keys", _CHECK_NAME.encode())
        if stored is None:
            txn.put("service_keys", _CHECK_NAME.encode(), self._master.seal(_CHECK_VALUE, context))
            return
        try:
            self._master.open(stored, context)
        except KeyStoreError:
            raise KeyStoreError(
                "wrong master key: it is not the key this data directory's keys were sealed with"
            ) from None

    # -- account signing keys -------------------------------------------------------------------

    def store_signing_key(self, txn: WriteTxn | None, did: str, key: PrivateKey) -> None:
        """Keep ``key`` as the repo signing key of ``did`` (replacing any earlier one)."""
        row = self._seal("signing_keys", did, key)
        if txn is None:
            self._store.transact(lambda txn: txn.put("signing_keys", did.encode(), row))
        else:
            txn.put("signing_keys", did.encode(), row)

    def signing_key(self, did: str) -> PrivateKey:
        """The repo signing key of ``did``; :class:`KeyStoreError` when there is none."""
        with self._store.read() as txn:
            key = self._load(txn, "signing_keys", did)
        if key is None:
            raise KeyStoreError(f"no signing key stored for {did}")
        return key

    def delete_signing_key(self, txn: WriteTxn | None, did: str) -> bool:
        """Forget the signing key of ``did`` (account deletion); False when there was none."""
        if txn is None:
            return self._store.transact(lambda txn: txn.delete("signing_keys", did.encode()))
        return txn.delete("signing_keys", did.encode())

    # -- the PDS rotation key -------------------------------------------------------------------

    def rotation_key(self) -> PrivateKey:
        """The PDS's did:plc rotation key (k256), created on first use."""
        with self._store.read() as txn:
            key = self._load(txn, "service_keys", _ROTATION_NAME)
        return key if key is not None else self._store.transact(self._create_rotation_key)

    def _create_rotation_key(self, txn: WriteTxn) -> PrivateKey:
        existing = self._load(txn, "service_keys", _ROTATION_NAME)
        if existing is not None:  # another writer created it first
            return existing
        key = PrivateKey.generate(K256)
        txn.put(
            "service_keys", _ROTATION_NAME.encode(), self._seal("service_keys", _ROTATION_NAME, key)
        )
        return key

    # -- reserved signing keys (reserveSigningKey) ----------------------------------------------

    def reserve_signing_key(self, txn: WriteTxn | None, did: str | None = None) -> str:
        """Reserve a new k256 signing key and return its did:key. With ``did``, the key is kept
        for that DID and asking again returns the same key; without, it is kept under its
        did:key."""

        def work(txn: WriteTxn) -> str:
            if did is not None:
                existing = self._load(txn, "reserved_keys", did)
                if existing is not None:
                    return existing.public_key.did_key()
            key = PrivateKey.generate(K256)
            key_did = key.public_key.did_key()
            name = did if did is not None else key_did
            txn.put("reserved_keys", name.encode(), self._seal("reserved_keys", name, key))
            return key_did

        return work(txn) if txn is not None else self._store.transact(work)

    def reserved_signing_key(self, did_or_key: str) -> PrivateKey | None:
        """The key reserved for a DID, or under a did:key; None when there is none."""
        with self._store.read() as txn:
            return self._load(txn, "reserved_keys", did_or_key)

    def clear_reserved_key(self, txn: WriteTxn | None, *names: str) -> None:
        """Drop the reservations under these DIDs or did:keys (the account now has its key)."""

        def work(txn: WriteTxn) -> None:
            for name in names:
                txn.delete("reserved_keys", name.encode())

        if txn is None:
            self._store.transact(work)
        else:
            work(txn)

    # -- sealing --------------------------------------------------------------------------------

    def _seal(self, table: str, name: str, key: PrivateKey) -> bytes:
        sealed = self._master.seal(key.to_bytes(), _context(table, name))
        return _encoder.encode(_StoredKey(key.curve, sealed))

    def _load(self, txn: ReadTxn, table: str, name: str) -> PrivateKey | None:
        if not name or len(name.encode()) > 511:
            return None
        data = txn.get(table, name.encode())
        if data is None:
            return None
        # The stored row is read every time, so a replaced or deleted key is never served
        # from memory; only the unsealing of a row already seen is saved (a row's random
        # nonce makes it unique to one key under one name).
        cached = self._unsealed.get((table, data))
        if cached is not None:
            self._unsealed.move_to_end((table, data))
            return cached
        stored = _decoder.decode(data)
        raw = self._master.open(stored.sealed, _context(table, name))
        try:
            key = PrivateKey.from_bytes(raw, stored.curve)
        except InvalidKeyError as err:
            raise KeyStoreError(f"stored key for {name} is not a valid key: {err.reason}") from err
        self._unsealed[(table, data)] = key
        if len(self._unsealed) > UNSEALED_CACHE_SIZE:
            self._unsealed.popitem(last=False)
        return key


def _context(table: str, name: str) -> bytes:
    return f"{table}\x00{name}".encode()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
