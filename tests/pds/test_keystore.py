"""Private keys at rest: the master key (file, environment), sealing, signing keys, the
rotation key, reserved keys, and what a wrong master key does."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from pds_store_helpers import ALICE, BOB, open_store
from strato.crypto import K256, P256, PrivateKey
from strato.errors import KeyStoreError
from strato.pds.keys import KEY_TABLES, MASTER_KEY_ENV, KeyStore, MasterKey
from strato.storage import Store

MASTER_HEX = "11" * 32
OTHER_HEX = "22" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "pds", (*KEY_TABLES, "caller")) as opened:
        yield opened


@pytest.fixture
def keys(store: Store) -> KeyStore:
    return KeyStore(store, MasterKey.from_hex(MASTER_HEX))


def _raw_data(path: Path) -> bytes:
    return (path / "data.mdb").read_bytes()


def test_signing_keys_round_trip(keys: KeyStore) -> None:
    alice = PrivateKey.generate(K256)
    bob = PrivateKey.generate(P256)
    keys.store_signing_key(None, ALICE, alice)
    keys.store_signing_key(None, BOB, bob)
    assert keys.signing_key(ALICE).to_bytes() == alice.to_bytes()
    loaded = keys.signing_key(BOB)
    assert loaded.curve == P256
    assert loaded.public_key == bob.public_key
    replacement = PrivateKey.generate(K256)
    keys.store_signing_key(None, ALICE, replacement)
    assert keys.signing_key(ALICE).public_key == replacement.public_key


def test_missing_signing_key(keys: KeyStore) -> None:
    with pytest.raises(KeyStoreError) as caught:
        keys.signing_key(ALICE)
    assert caught.value.reason == f"no signing key stored for {ALICE}"
    keys.store_signing_key(None, ALICE, PrivateKey.generate(K256))
    assert keys.delete_signing_key(None, ALICE)
    assert not keys.delete_signing_key(None, ALICE)
    with pytest.raises(KeyStoreError):
        keys.signing_key(ALICE)


def test_a_signing_key_commits_with_the_callers_transaction(store: Store, keys: KeyStore) -> None:
    with pytest.raises(RuntimeError, match="account creation failed"):
        _store_then_fail(store, keys)
    with pytest.raises(KeyStoreError):
        keys.signing_key(ALICE)
    with store.write() as txn:
        keys.store_signing_key(txn, ALICE, PrivateKey.generate(K256))
        txn.put("caller", b"account", b"1")
    assert keys.signing_key(ALICE).curve == K256
    with store.write() as txn:
        assert keys.delete_signing_key(txn, ALICE)
    with pytest.raises(KeyStoreError):
        keys.signing_key(ALICE)


def _store_then_fail(store: Store, keys: KeyStore) -> None:
    with store.write() as txn:
        keys.store_signing_key(txn, ALICE, PrivateKey.generate(K256))
        raise RuntimeError("account creation failed")


def test_the_file_on_disk_holds_no_raw_key(tmp_path: Path, store: Store, keys: KeyStore) -> None:
    secret = PrivateKey.generate(K256)
    keys.store_signing_key(None, ALICE, secret)
    rotation = keys.rotation_key()
    reserved = keys.reserve_signing_key(None, BOB)
    reserved_secret = keys.reserved_signing_key(BOB)
    assert reserved_secret is not None
    assert reserved_secret.public_key.did_key() == reserved
    data = _raw_data(tmp_path / "pds")
    assert ALICE.encode() in data  # the rows are there...
    for raw in (secret.to_bytes(), rotation.to_bytes(), reserved_secret.to_bytes()):
        assert raw not in data
        assert raw.hex().encode() not in data  # ...but not the keys in them
    assert bytes.fromhex(MASTER_HEX) not in data


def test_the_rotation_key_is_created_once(keys: KeyStore) -> None:
    first = keys.rotation_key()
    assert first.curve == K256
    assert keys.rotation_key().to_bytes() == first.to_bytes()


def test_keys_survive_reopening(tmp_path: Path) -> None:
    secret = PrivateKey.generate(K256)
    with open_store(tmp_path / "pds", KEY_TABLES) as store:
        keys = KeyStore(store, MasterKey.from_hex(MASTER_HEX))
        keys.store_signing_key(None, ALICE, secret)
        rotation = keys.rotation_key().to_bytes()
        reserved = keys.reserve_signing_key(None)
    with open_store(tmp_path / "pds", KEY_TABLES) as store:
        keys = KeyStore(store, MasterKey.from_hex(MASTER_HEX))
        assert keys.signing_key(ALICE).to_bytes() == secret.to_bytes()
        assert keys.rotation_key().to_bytes() == rotation
        found = keys.reserved_signing_key(reserved)
        assert found is not None
        assert found.public_key.did_key() == reserved


def test_a_wrong_master_key_fails_when_opening(tmp_path: Path) -> None:
    with open_store(tmp_path / "pds", KEY_TABLES) as store:
        KeyStore(store, MasterKey.from_hex(MASTER_HEX)).store_signing_key(
            None, ALICE, PrivateKey.generate(K256)
        )
    with open_store(tmp_path / "pds", KEY_TABLES) as store:
        with pytest.raises(KeyStoreError) as caught:
            KeyStore(store, MasterKey.from_hex(OTHER_HEX))
        assert caught.value.reason == (
            "wrong master key: it is not the key this data directory's keys were sealed with"
        )
        assert KeyStore(store, MasterKey.from_hex(MASTER_HEX)).signing_key(ALICE).curve == K256


def test_a_sealed_key_is_bound_to_its_row(store: Store, keys: KeyStore) -> None:
    keys.store_signing_key(None, ALICE, PrivateKey.generate(K256))
    with store.write() as txn:  # copy Alice's sealed key onto Bob
        row = txn.get("signing_keys", ALICE.encode())
        assert row is not None
        txn.put("signing_keys", BOB.encode(), row)
    with pytest.raises(KeyStoreError) as caught:
        keys.signing_key(BOB)
    assert caught.value.reason == (
        "a stored key does not decrypt: wrong master key, or the data was altered"
    )


def test_an_altered_sealed_key_fails(store: Store, keys: KeyStore) -> None:
    keys.store_signing_key(None, ALICE, PrivateKey.generate(K256))
    with store.write() as txn:
        row = txn.get("signing_keys", ALICE.encode())
        assert row is not None
        txn.put("signing_keys", ALICE.encode(), row[:-1] + bytes([row[-1] ^ 1]))
    with pytest.raises(KeyStoreError) as caught:
        keys.signing_key(ALICE)
    assert caught.value.reason.startswith("a stored key does not decrypt")


def test_a_sealed_value_that_is_not_a_key(store: Store, keys: KeyStore) -> None:
    master = MasterKey.from_hex(MASTER_HEX)
    sealed = master.seal(bytes(32), f"signing_keys\x00{ALICE}".encode())  # scalar zero
    with store.write() as txn:
        txn.put("signing_keys", ALICE.encode(), msgspec.msgpack.encode([K256, sealed]))
    with pytest.raises(KeyStoreError) as caught:
        keys.signing_key(ALICE)
    assert caught.value.reason.startswith(f"stored key for {ALICE} is not a valid key: ")


def test_seal_and_open() -> None:
    master = MasterKey.from_hex(MASTER_HEX)
    sealed = master.seal(b"secret", b"ctx")
    assert master.open(sealed, b"ctx") == b"secret"
    assert master.seal(b"secret", b"ctx") != sealed  # a fresh nonce each time
    with pytest.raises(KeyStoreError) as context:
        master.open(sealed, b"other ctx")
    assert context.value.reason.startswith("a stored key does not decrypt")
    with pytest.raises(KeyStoreError) as other:
        MasterKey.from_hex(OTHER_HEX).open(sealed, b"ctx")
    assert other.value.reason.startswith("a stored key does not decrypt")
    for malformed in (b"", b"\x01short", b"\x02" + sealed[1:]):
        with pytest.raises(KeyStoreError) as caught:
            master.open(malformed, b"ctx")
        assert caught.value.reason == "sealed key has an unknown format"


def test_reserved_keys(keys: KeyStore) -> None:
    for_did = keys.reserve_signing_key(None, ALICE)
    assert for_did.startswith("did:key:z")
    assert keys.reserve_signing_key(None, ALICE) == for_did  # asking again: the same key
    anonymous = keys.reserve_signing_key(None)
    assert anonymous not in (for_did, keys.reserve_signing_key(None))
    found = keys.reserved_signing_key(anonymous)
    assert found is not None
    assert found.curve == K256
    assert keys.reserved_signing_key("did:key:zUnknown") is None
    assert keys.reserved_signing_key("") is None
    keys.clear_reserved_key(None, anonymous, ALICE)
    assert keys.reserved_signing_key(anonymous) is None
    assert keys.reserved_signing_key(ALICE) is None
    assert keys.reserve_signing_key(None, ALICE) != for_did  # a new reservation, a new key


def test_clear_reserved_key_in_a_callers_transaction(store: Store, keys: KeyStore) -> None:
    reserved = keys.reserve_signing_key(None, ALICE)
    with store.write() as txn:
        keys.clear_reserved_key(txn, reserved, ALICE)
    assert keys.reserved_signing_key(ALICE) is None


# -- the master key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("11" * 31, "a master key is 64 hex digits"),
        ("11" * 33, "a master key is 64 hex digits"),
        ("zz" * 32, "a master key is written in hex digits only"),
        ("", "a master key is 64 hex digits"),
    ],
)
def test_malformed_master_keys(text: str, reason: str) -> None:
    with pytest.raises(KeyStoreError) as caught:
        MasterKey.from_hex(text)
    assert caught.value.reason == reason


def test_master_key_bytes_must_be_32() -> None:
    with pytest.raises(KeyStoreError) as caught:
        MasterKey(b"short")
    assert caught.value.reason == "a master key is 32 bytes, not 5"


def test_master_key_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = MasterKey.generate()
    key.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) == 64
    sealed = key.seal(b"x", b"c")
    assert MasterKey.read(path).open(sealed, b"c") == b"x"
    with pytest.raises(KeyStoreError) as exists:
        MasterKey.generate().write(path)
    assert exists.value.reason == f"{path} exists; not replacing a master key"
    assert MasterKey.read(path).open(sealed, b"c") == b"x"  # the file was left alone
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary left


def test_master_key_file_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError) as missing:
        MasterKey.read(tmp_path / "absent.key")
    assert missing.value.reason == f"no master key file at {tmp_path / 'absent.key'}"
    (tmp_path / "binary.key").write_bytes(b"\xff" * 64)
    with pytest.raises(KeyStoreError) as binary:
        MasterKey.read(tmp_path / "binary.key")
    assert binary.value.reason.startswith("cannot read the master key file")
    (tmp_path / "short.key").write_text("abcd\n")
    with pytest.raises(KeyStoreError) as short:
        MasterKey.read(tmp_path / "short.key")
    assert short.value.reason == "a master key is 64 hex digits"


def test_load_prefers_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    MasterKey.from_hex(OTHER_HEX).write(path)
    from_env = MasterKey.load(path, {MASTER_KEY_ENV: MASTER_HEX})
    sealed = MasterKey.from_hex(MASTER_HEX).seal(b"x", b"c")
    assert from_env.open(sealed, b"c") == b"x"
    from_file = MasterKey.load(path, {})
    assert from_file.open(MasterKey.from_hex(OTHER_HEX).seal(b"y", b"c"), b"c") == b"y"
    with pytest.raises(KeyStoreError):
        MasterKey.load(path, {MASTER_KEY_ENV: "not hex"})


def test_load_creates_the_file_on_first_start(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(KeyStoreError):
        MasterKey.load(path, {})
    created = MasterKey.load(path, {}, create=True)
    assert path.exists()
    sealed = created.seal(b"x", b"c")
    assert MasterKey.load(path, {}, create=True).open(sealed, b"c") == b"x"  # not replaced


def test_unsealed_keys_are_reused_but_never_stale(tmp_path: Path) -> None:
    store = open_store(tmp_path, KEY_TABLES)
    keys = KeyStore(store, MasterKey.generate())
    first, second = PrivateKey.generate(K256), PrivateKey.generate(K256)
    keys.store_signing_key(None, ALICE, first)
    assert keys.signing_key(ALICE) is keys.signing_key(ALICE)  # unsealed once
    keys.store_signing_key(None, ALICE, second)  # replaced: the new row is unsealed
    assert keys.signing_key(ALICE).to_bytes() == second.to_bytes()
    keys.delete_signing_key(None, ALICE)
    with pytest.raises(KeyStoreError):
        keys.signing_key(ALICE)
