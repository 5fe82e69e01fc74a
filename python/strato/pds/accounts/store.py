"""The PDS's account store: accounts and everything that authenticates them, in LMDB.

:class:`AccountStore` works on the PDS's one :class:`strato.storage.Store`, whose tables must
include :data:`ACCOUNT_TABLES`. Methods that change an account's identity or status take an
optional ``txn``: given one, they write inside it, so the change commits together with the
caller's other writes (account creation with the repo's first commit and its firehose events,
say); without one they run their own write transaction. Password hashing is slow, so it happens
before any transaction (:func:`strato.pds.accounts.passwords.hash_password`).

Account tables: ``accounts`` (did -> :class:`Account`), ``account_handles`` (handle -> did),
``account_emails`` (email -> did), ``account_tombstones`` (did -> u64 deletion time). The other
tables belong to :mod:`.app_passwords`, :mod:`.sessions`, :mod:`.email_tokens` and
:mod:`.invites`.

Rules, as the reference PDS: handles are unique and lowercase (parsed by
:class:`strato.syntax.Handle`); emails are optional, unique and lowercase; a login names the
account by DID, handle or email and succeeds with the account password or, unless the account is
taken down, an app password; a taken-down account may still log in with its password (the
XRPC layer gives it only the ``takendown`` scope, so it can migrate away).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

import msgspec
from argon2 import PasswordHasher

from strato.errors import (
    AccountError,
    AccountExistsError,
    AccountNotFoundError,
    AuthenticationError,
    EmailNotAvailableError,
    HandleNotAvailableError,
    InvalidEmailError,
    InvalidInviteCodeError,
    KeyStoreError,
    TokenRequiredError,
)
from strato.pds.accounts import app_passwords, email_tokens, invites, sessions
from strato.pds.accounts.app_passwords import AppPassword, NewAppPassword
from strato.pds.accounts.email_tokens import EmailCodes, EmailTokenPurpose
from strato.pds.accounts.invites import ADMIN, InviteCode, InviteCodeInfo
from strato.pds.accounts.model import Account, AccountStatus, decode_account, encode_account
from strato.pds.accounts.passwords import PASSWORD_HASHER, PasswordHash, check_password
from strato.pds.accounts.sessions import RefreshGrant, RefreshToken
from strato.storage import ReadTxn, Store, WriteTxn, split_key, u64
from strato.syntax import DID, Handle

_ACCOUNT_ONLY: Final = ("accounts", "account_handles", "account_emails", "account_tombstones")
#: Every table the account store uses; include them in the PDS's :class:`Store`.
ACCOUNT_TABLES: Final = (
    _ACCOUNT_ONLY + app_passwords.TABLES + sessions.TABLES + email_tokens.TABLES + invites.TABLES
)
#: Tables earlier versions of the account store used; drop them when the store opens.
ACCOUNT_RETIRED_TABLES: Final = email_tokens.RETIRED_TABLES
#: How long an account created deactivated (a migration target) asks to be kept, as the
#: reference PDS records it (ms).
MIGRATION_DELETE_AFTER: Final = 3 * 24 * 3_600_000
_LOGIN_FAILED: Final = "invalid identifier or password"
# A deliberately loose check (one @, a dot in the domain, no spaces): deliverability is the
# mail server's call.
_EMAIL_RE: Final = re.compile(r"[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+")
_EMAIL_MAX_LENGTH: Final = 254
#: LMDB's longest key; a longer identifier names no account.
_MAX_KEY: Final = 511

T = TypeVar("T")


class Login(msgspec.Struct, frozen=True, kw_only=True):
    """A successful login: the account, and the app password used (None: the password)."""

    account: Account
    app_password: AppPassword | None


def normalize_email(email: str) -> str:
    """``email`` lowercased, or :class:`InvalidEmailError` when it is not an address."""
    normalized = email.strip().lower()
    if len(normalized) > _EMAIL_MAX_LENGTH or not _EMAIL_RE.fullmatch(normalized):
        raise InvalidEmailError("not a valid email address", email)
    return normalized


class AccountStore:
    """Accounts, passwords, app passwords, refresh tokens, emailed codes and invite codes.

    ``email_code_key`` is the secret emailed codes are hashed with (derived from the master key
    for :data:`~strato.pds.accounts.email_tokens.EMAIL_CODE_SECRET`); a store opened without it
    (the account commands that need no code) raises :class:`KeyStoreError` when asked to issue
    or check one.

    A method that writes takes the transaction as its first argument: the caller's, so that the
    change commits with the rest of its work, or None for one of its own."""

    def __init__(
        self,
        store: Store,
        *,
        email_code_key: bytes | None = None,
        invite_code_required: bool = False,
        hasher: PasswordHasher = PASSWORD_HASHER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._email_codes = None if email_code_key is None else EmailCodes(email_code_key)
        self.invite_code_required = invite_code_required
        self._hasher = hasher
        self._clock = clock

    def now(self) -> int:
        """The store's clock, in milliseconds."""
        return int(self._clock() * 1000)

    # -- reading --------------------------------------------------------------------------------

    def get(self, did: str) -> Account:
        """The account of ``did``; :class:`AccountNotFoundError` when none is hosted here."""
        with self._store.read() as txn:
            return _account(txn, did)

    def get_by_handle(self, handle: str) -> Account:
        """The account holding ``handle`` (any case); :class:`AccountNotFoundError` if none."""
        with self._store.read() as txn:
            found = _by_handle(txn, handle)
        if found is None:
            raise AccountNotFoundError("no account has this handle", handle)
        return found

    def get_by_email(self, email: str) -> Account:
        """The account with ``email`` (any case); :class:`AccountNotFoundError` if none."""
        with self._store.read() as txn:
            found = _by_email(txn, email)
        if found is None:
            raise AccountNotFoundError("no account has this email address", email)
        return found

    def resolve(self, identifier: str) -> Account:
        """The account named by a DID, a handle or an email address."""
        with self._store.read() as txn:
            found = _by_identifier(txn, identifier)
        if found is None:
            raise AccountNotFoundError("no such account", identifier)
        return found

    def status(self, did: str) -> AccountStatus:
        """The hosting status of ``did``: ``deleted`` for an account deleted here;
        :class:`AccountNotFoundError` for a DID this PDS never hosted."""
        with self._store.read() as txn:
            if txn.get("account_tombstones", did.encode()) is not None:
                return AccountStatus.DELETED
            return _account(txn, did).status

    def list_accounts(self, *, after: str | None = None, limit: int = 500) -> list[Account]:
        """Up to ``limit`` accounts in DID order, starting after the DID ``after``."""
        start = None if after is None else after.encode() + b"\x00"
        with self._store.read() as txn:
            return [
                decode_account(value)
                for _, value in txn.items("accounts", start=start, limit=limit)
            ]

    # -- creating and changing accounts ----------------------------------------------------------

    def create_account(
        self,
        txn: WriteTxn,
        *,
        did: str,
        handle: str,
        email: str | None = None,
        password_hash: PasswordHash | None = None,
        invite_code: str | None = None,
        deactivated: bool = False,
    ) -> Account:
        """Register ``did`` with ``handle`` inside ``txn`` (the caller commits it with the
        repository's first commit). A deactivated account is a migration target.

        Raises :class:`AccountExistsError`, :class:`HandleNotAvailableError`,
        :class:`EmailNotAvailableError`, :class:`InvalidEmailError`,
        :class:`InvalidInviteCodeError` (also when a code is required and none is given) and
        :class:`strato.errors.IdentifierError` for a malformed DID or handle."""
        did = str(DID(did))
        normalized = str(Handle(handle))
        address = None if email is None else normalize_email(email)
        now = self.now()
        # Every check comes before the first write, so a refusal leaves the caller's
        # transaction as it was.
        if txn.get("accounts", did.encode()) is not None:
            raise AccountExistsError("an account with this DID exists", did)
        _check_handle_free(txn, normalized)
        if address is not None:
            _check_email_free(txn, address)
        if invite_code is not None:
            _check_invite(txn, invite_code)
        elif self.invite_code_required:
            raise InvalidInviteCodeError("an invite code is required")
        account = Account(
            did=did,
            handle=normalized,
            email=address,
            password_hash=password_hash,
            created_at=now,
            deactivated_at=now if deactivated else None,
            delete_after=now + MIGRATION_DELETE_AFTER if deactivated else None,
        )
        txn.put("accounts", did.encode(), encode_account(account))
        txn.put("account_handles", normalized.encode(), did.encode())
        if address is not None:
            txn.put("account_emails", address.encode(), did.encode())
        if invite_code is not None:
            invites.record_use(txn, invite_code, did, now)
        txn.delete("account_tombstones", did.encode())
        return account

    def update_handle(self, txn: WriteTxn | None, did: str, handle: str) -> Account:
        """Give ``did`` the handle ``handle`` (setting the same handle again is allowed, to
        re-announce it). :class:`HandleNotAvailableError` when another account holds it."""
        normalized = str(Handle(handle))

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            if account.handle != normalized:
                _check_handle_free(txn, normalized)
                txn.delete("account_handles", account.handle.encode())
                txn.put("account_handles", normalized.encode(), did.encode())
                account.handle = normalized
                _put(txn, account)
            return account

        return self._write(txn, work)

    def set_password(self, txn: WriteTxn | None, did: str, password_hash: PasswordHash) -> None:
        """Replace the account password; every session of the account ends (its refresh
        tokens are revoked) and any password-reset code is dropped."""

        def work(txn: WriteTxn) -> None:
            _set_password(txn, _account(txn, did), password_hash)

        self._write(txn, work)

    def deactivate(
        self, txn: WriteTxn | None, did: str, *, delete_after: int | None = None
    ) -> Account:
        """Deactivate the account (its content stops being served); ``delete_after`` is the
        time the user asked for deletion, kept but not acted on (as the reference PDS)."""

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            account.deactivated_at = account.deactivated_at or self.now()
            account.delete_after = delete_after
            _put(txn, account)
            return account

        return self._write(txn, work)

    def activate(self, txn: WriteTxn | None, did: str) -> Account:
        """Reactivate a deactivated account (also a migration target going live). A taken-down
        account cannot be activated (:class:`AccountError`)."""

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            if account.takedown_ref is not None:
                raise AccountError("account is taken down", did)
            account.deactivated_at = None
            account.delete_after = None
            _put(txn, account)
            return account

        return self._write(txn, work)

    def set_takedown(self, txn: WriteTxn | None, did: str, ref: str | None) -> Account:
        """Take the account down under the moderation reference ``ref`` (its sessions end), or
        with None reverse a takedown."""
        if ref is not None and not ref:
            raise AccountError("a takedown needs a reference", did)

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            account.takedown_ref = ref
            _put(txn, account)
            if ref is not None:
                sessions.revoke_all(txn, did)
            return account

        return self._write(txn, work)

    def delete_account(self, txn: WriteTxn | None, did: str) -> Account:
        """Delete the account and its credentials (app passwords, sessions, codes), leaving a
        tombstone so its status reads ``deleted``; returns what was deleted. Invite codes it
        created or used stay, for their history."""

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            txn.delete("accounts", did.encode())
            txn.delete("account_handles", account.handle.encode())
            if account.email is not None:
                txn.delete("account_emails", account.email.encode())
            app_passwords.revoke_all(txn, did)
            sessions.revoke_all(txn, did)
            email_tokens.delete_all(txn, did)
            txn.put("account_tombstones", did.encode(), u64(self.now()))
            return account

        return self._write(txn, work)

    # -- logging in -------------------------------------------------------------------------------

    def login(self, identifier: str, password: str) -> Login:
        """Check a login by DID, handle or email with the account password or an app password.
        Slow on purpose (a password hash); call it off the event loop. An unknown account
        fails faster than a wrong password, so the endpoint pads every answer to a fixed
        delay (the reference PDS waits until 350 ms have passed).

        Raises :class:`AuthenticationError` (one reason for every failure: unknown account,
        wrong password, revoked app password, app password of a taken-down account). A stored
        hash made with other parameters is replaced by one made with the current ones."""
        with self._store.read() as txn:
            account = _by_identifier(txn, identifier)
        if account is None:
            raise AuthenticationError(_LOGIN_FAILED)
        if self._check_account_password(account, password):
            return Login(account=account, app_password=None)
        if account.takedown_ref is None:
            with self._store.read() as txn:
                app_password = app_passwords.find(txn, account.did, password)
            if app_password is not None:
                return Login(account=account, app_password=app_password)
        raise AuthenticationError(_LOGIN_FAILED)

    def verify_password(self, did: str, password: str) -> bool:
        """Whether ``password`` is the account password of ``did`` (not an app password), as
        account deletion asks."""
        return self._check_account_password(self.get(did), password)

    def _check_account_password(self, account: Account, password: str) -> bool:
        stored = account.password_hash
        if stored is None:
            return False
        matches, rehash = check_password(stored, password, self._hasher)
        if matches and rehash:
            fresh = PasswordHash(self._hasher.hash(password))

            def work(txn: WriteTxn) -> None:
                current = _find(txn, account.did)
                if current is not None and current.password_hash == stored:
                    current.password_hash = fresh
                    _put(txn, current)

            self._store.transact(work)
        return matches

    # -- app passwords ----------------------------------------------------------------------------

    def create_app_password(
        self, txn: WriteTxn | None, did: str, name: str, *, privileged: bool = False
    ) -> NewAppPassword:
        """A new app password for ``did`` (its text is only in the result)."""

        def work(txn: WriteTxn) -> NewAppPassword:
            _account(txn, did)
            return app_passwords.create(txn, did, name, privileged, self.now())

        return self._write(txn, work)

    def list_app_passwords(self, did: str) -> list[AppPassword]:
        """The app passwords of ``did``, newest first."""
        with self._store.read() as txn:
            _account(txn, did)
            return app_passwords.list_all(txn, did)

    def revoke_app_password(self, txn: WriteTxn | None, did: str, name: str) -> bool:
        """Revoke an app password and end the sessions opened with it; False if unknown."""

        def work(txn: WriteTxn) -> bool:
            if not app_passwords.revoke(txn, did, name):
                return False
            sessions.revoke_all(txn, did, app_password_name=name)
            return True

        return self._write(txn, work)

    # -- refresh tokens ---------------------------------------------------------------------------

    def store_refresh_token(
        self,
        txn: WriteTxn | None,
        did: str,
        jti: str,
        expires_at: int,
        *,
        app_password_name: str | None = None,
    ) -> None:
        """Record a refresh token issued at login (or account creation)."""
        token = RefreshToken(did=did, expires_at=expires_at, app_password_name=app_password_name)
        self._write(txn, lambda txn: sessions.store(txn, jti, token))

    def rotate_refresh_token(self, txn: WriteTxn | None, jti: str) -> RefreshGrant:
        """Use a refresh token: the successor to mint (see :mod:`.sessions`).
        :class:`InvalidTokenError` when revoked or unknown, :class:`ExpiredTokenError` when
        expired."""
        now = self.now()
        return self._write(txn, lambda txn: sessions.rotate(txn, jti, now))

    def revoke_refresh_token(self, txn: WriteTxn | None, jti: str) -> bool:
        """End the session of a refresh token (logout); False when it was not recorded."""
        return self._write(txn, lambda txn: sessions.revoke(txn, jti))

    # -- emailed codes ----------------------------------------------------------------------------

    def create_email_token(self, txn: WriteTxn | None, did: str, purpose: EmailTokenPurpose) -> str:
        """A new code for ``did`` and ``purpose`` (replacing the previous one) to send."""

        codes = self._codes()

        def work(txn: WriteTxn) -> str:
            _account(txn, did)
            return codes.create(txn, did, purpose, self.now())

        return self._write(txn, work)

    def check_email_token(self, did: str, purpose: EmailTokenPurpose, token: str) -> None:
        """Raise :class:`InvalidTokenError` or :class:`ExpiredTokenError` unless ``token`` is
        the current code; does not use it up."""
        with self._store.read() as txn:
            self._codes().check(txn, did, purpose, token, self.now())

    def use_email_token(
        self, txn: WriteTxn | None, did: str, purpose: EmailTokenPurpose, token: str
    ) -> None:
        """Check ``token`` (as :meth:`check_email_token`) and use it up."""

        codes = self._codes()

        def work(txn: WriteTxn) -> None:
            codes.check(txn, did, purpose, token, self.now())
            email_tokens.delete(txn, did, purpose)

        self._write(txn, work)

    def request_email_confirmation(self, did: str) -> str:
        """A ``confirm_email`` code for the account's address."""
        self._require_email(did)
        return self.create_email_token(None, did, EmailTokenPurpose.CONFIRM_EMAIL)

    def confirm_email(self, txn: WriteTxn | None, did: str, email: str, token: str) -> Account:
        """Mark the address confirmed, given the ``confirm_email`` code sent to it.
        :class:`InvalidEmailError` when ``email`` is not the account's address."""

        codes = self._codes()

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            if account.email is None or account.email != email.strip().lower():
                raise InvalidEmailError("email does not match the account's address", did)
            codes.check(txn, did, EmailTokenPurpose.CONFIRM_EMAIL, token, self.now())
            email_tokens.delete(txn, did, EmailTokenPurpose.CONFIRM_EMAIL)
            account.email_confirmed_at = self.now()
            _put(txn, account)
            return account

        return self._write(txn, work)

    def request_email_update(self, did: str) -> str | None:
        """An ``update_email`` code when the current address is confirmed (it must approve the
        change), else None: an unconfirmed address may be replaced without one."""
        account = self._require_email(did)
        if account.email_confirmed_at is None:
            return None
        return self.create_email_token(None, did, EmailTokenPurpose.UPDATE_EMAIL)

    def update_email(
        self, txn: WriteTxn | None, did: str, email: str, token: str | None = None
    ) -> Account:
        """Change the account's address (it becomes unconfirmed; pending codes are dropped).
        A confirmed address needs the ``update_email`` code (:class:`TokenRequiredError`)."""
        address = normalize_email(email)
        codes = None if token is None else self._codes()

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            if token is None or codes is None:  # (one is None when the other is)
                if account.email_confirmed_at is not None:
                    raise TokenRequiredError("a confirmation token is required", did)
            else:
                codes.check(txn, did, EmailTokenPurpose.UPDATE_EMAIL, token, self.now())
            return _change_email(txn, account, address)

        return self._write(txn, work)

    def request_password_reset(self, email: str) -> tuple[Account, str]:
        """The account with ``email`` and a new ``reset_password`` code to send it."""
        account = self.get_by_email(email)
        return account, self.create_email_token(None, account.did, EmailTokenPurpose.RESET_PASSWORD)

    def reset_password(self, txn: WriteTxn | None, token: str, password_hash: PasswordHash) -> str:
        """Set a new password given a ``reset_password`` code alone; returns the account's DID.
        Its sessions end."""

        codes = self._codes()

        def work(txn: WriteTxn) -> str:
            did = codes.find_did(txn, EmailTokenPurpose.RESET_PASSWORD, token, self.now())
            _set_password(txn, _account(txn, did), password_hash)
            return did

        return self._write(txn, work)

    def _codes(self) -> EmailCodes:
        if self._email_codes is None:
            raise KeyStoreError("emailed codes need the master key, and this store has none")
        return self._email_codes

    def _require_email(self, did: str) -> Account:
        account = self.get(did)
        if account.email is None:
            raise AccountError("account has no email address", did)
        return account

    # -- invite codes -----------------------------------------------------------------------------

    def create_invite_codes(
        self,
        hostname: str,
        *,
        count: int = 1,
        use_count: int = 1,
        for_account: str = ADMIN,
        created_by: str = ADMIN,
    ) -> list[str]:
        """``count`` new codes for the service at ``hostname``, each good for ``use_count``
        accounts, belonging to ``for_account`` (a DID, or ``admin``)."""
        if count < 1 or use_count < 1:
            raise AccountError("count and use count must be at least 1")

        def work(txn: WriteTxn) -> list[str]:
            now = self.now()
            invite = InviteCode(
                available=use_count,
                disabled=False,
                for_account=for_account,
                created_by=created_by,
                created_at=now,
            )
            codes = [invites.generate_code(hostname) for _ in range(count)]
            for code in codes:
                invites.create(txn, code, invite)
            return codes

        return self._store.transact(work)

    def invite_code(self, code: str) -> InviteCodeInfo:
        """A code with its uses; :class:`InvalidInviteCodeError` when unknown."""
        with self._store.read() as txn:
            found = invites.info(txn, code)
        if found is None:
            raise InvalidInviteCodeError("unknown invite code", code)
        return found

    def account_invite_codes(self, account: str) -> list[InviteCodeInfo]:
        """The codes belonging to ``account`` (a DID, or ``admin``) with their uses."""
        with self._store.read() as txn:
            found = (invites.info(txn, code) for code in invites.codes_of(txn, account))
            return [info for info in found if info is not None]

    def disable_invite_codes(self, codes: Iterable[str] = (), accounts: Iterable[str] = ()) -> int:
        """Disable the given codes and every code of the given accounts; returns how many
        codes were disabled."""

        def work(txn: WriteTxn) -> int:
            targets = set(codes)
            for account in accounts:
                targets.update(invites.codes_of(txn, account))
            return sum(invites.disable(txn, code) for code in sorted(targets))

        return self._store.transact(work)

    def all_invite_codes(self) -> list[InviteCodeInfo]:
        """Every invite code with its uses, in code order (the admin's listing)."""
        with self._store.read() as txn:
            found = (invites.info(txn, key.decode()) for key, _ in txn.items("invite_codes"))
            return [info for info in found if info is not None]

    def invited_by(self, did: str) -> InviteCodeInfo | None:
        """The code ``did`` was created with, None when it used none."""
        with self._store.read() as txn:
            for key, _ in txn.items("invite_code_uses"):
                code, used_by = split_key(key)
                if used_by == did:
                    return invites.info(txn, code)
        return None

    def set_invites_disabled(self, txn: WriteTxn | None, did: str, disabled: bool) -> Account:
        """Stop (or let again) ``did`` create and hand out invite codes (an admin's switch)."""

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            account.invites_disabled = disabled
            _put(txn, account)
            return account

        return self._write(txn, work)

    def set_email(self, txn: WriteTxn | None, did: str, email: str) -> Account:
        """Give ``did`` the address ``email``, unconfirmed, without any code (an admin's
        change); pending codes are dropped. :class:`EmailNotAvailableError` when another
        account has it."""
        address = normalize_email(email)

        def work(txn: WriteTxn) -> Account:
            account = _account(txn, did)
            return _change_email(txn, account, address)

        return self._write(txn, work)

    # -- internals --------------------------------------------------------------------------------

    def _write(self, txn: WriteTxn | None, work: Callable[[WriteTxn], T]) -> T:
        return work(txn) if txn is not None else self._store.transact(work)


def _key(text: str) -> bytes | None:
    """``text`` as a key, or None when it cannot be one (so it names nothing stored)."""
    key = text.encode()
    return key if 0 < len(key) <= _MAX_KEY else None


def _find(txn: ReadTxn, did: str) -> Account | None:
    key = _key(did)
    data = None if key is None else txn.get("accounts", key)
    return None if data is None else decode_account(data)


def _account(txn: ReadTxn, did: str) -> Account:
    found = _find(txn, did)
    if found is None:
        raise AccountNotFoundError("no account hosted here for this DID", did)
    return found


def _by_handle(txn: ReadTxn, handle: str) -> Account | None:
    key = _key(handle.strip().lower())
    did = None if key is None else txn.get("account_handles", key)
    return None if did is None else _find(txn, did.decode())


def _by_email(txn: ReadTxn, email: str) -> Account | None:
    key = _key(email.strip().lower())
    did = None if key is None else txn.get("account_emails", key)
    return None if did is None else _find(txn, did.decode())


def _by_identifier(txn: ReadTxn, identifier: str) -> Account | None:
    if "@" in identifier:
        return _by_email(txn, identifier)
    if identifier.startswith("did:"):
        return _find(txn, identifier)
    return _by_handle(txn, identifier)


def _change_email(txn: WriteTxn, account: Account, address: str) -> Account:
    """Give ``account`` the (normalized) ``address``, unconfirmed, dropping its pending codes;
    :class:`EmailNotAvailableError` when another account has it."""
    if account.email != address:
        _check_email_free(txn, address)
        if account.email is not None:
            txn.delete("account_emails", account.email.encode())
        txn.put("account_emails", address.encode(), account.did.encode())
    account.email = address
    account.email_confirmed_at = None
    _put(txn, account)
    email_tokens.delete_all(txn, account.did)
    return account


def _put(txn: WriteTxn, account: Account) -> None:
    txn.put("accounts", account.did.encode(), encode_account(account))


def _check_handle_free(txn: ReadTxn, handle: str) -> None:
    if txn.get("account_handles", handle.encode()) is not None:
        raise HandleNotAvailableError("handle already taken", handle)


def _check_email_free(txn: ReadTxn, email: str) -> None:
    if txn.get("account_emails", email.encode()) is not None:
        raise EmailNotAvailableError("email address already in use", email)


def _check_invite(txn: ReadTxn, code: str) -> None:
    found = invites.check(txn, code)
    owner = _find(txn, found.for_account)
    if owner is not None and owner.takedown_ref is not None:
        raise InvalidInviteCodeError("invite code not available", code)


def _set_password(txn: WriteTxn, account: Account, password_hash: PasswordHash) -> None:
    account.password_hash = password_hash
    _put(txn, account)
    sessions.revoke_all(txn, account.did)
    email_tokens.delete(txn, account.did, EmailTokenPurpose.RESET_PASSWORD)
