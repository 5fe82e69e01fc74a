"""Accounts of the PDS and everything that authenticates them.

- :mod:`.store`: :class:`AccountStore`, the one entry point (accounts, handles, emails, hosting
  status, login), :data:`ACCOUNT_TABLES`, the LMDB tables to open it with, and
  :data:`ACCOUNT_RETIRED_TABLES`, those to drop.
- :mod:`.model`: the :class:`Account` row and :class:`AccountStatus`.
- :mod:`.passwords`: argon2id password hashes and generated app passwords.
- :mod:`.app_passwords`, :mod:`.sessions` (refresh tokens), :mod:`.email_tokens` (emailed
  codes, kept as digests keyed by :data:`EMAIL_CODE_SECRET`), :mod:`.invites`: the tables
  behind them.

Errors are :class:`strato.errors.AccountError` and its subclasses, each with a ``reason``.
"""

from __future__ import annotations

from strato.pds.accounts.app_passwords import AppPassword, NewAppPassword
from strato.pds.accounts.email_tokens import (
    EMAIL_CODE_SECRET,
    EMAIL_TOKEN_LIFETIME,
    EmailTokenPurpose,
)
from strato.pds.accounts.invites import ADMIN, InviteCodeInfo, InviteCodeUse
from strato.pds.accounts.model import Account, AccountStatus
from strato.pds.accounts.passwords import (
    PASSWORD_HASHER,
    PASSWORD_MAX_LENGTH,
    PasswordHash,
    hash_password,
)
from strato.pds.accounts.sessions import (
    REFRESH_GRACE,
    REFRESH_TOKEN_LIFETIME,
    RefreshGrant,
    new_token_id,
)
from strato.pds.accounts.store import (
    ACCOUNT_RETIRED_TABLES,
    ACCOUNT_TABLES,
    AccountStore,
    Login,
    normalize_email,
)

__all__ = [
    "ACCOUNT_RETIRED_TABLES",
    "ACCOUNT_TABLES",
    "ADMIN",
    "EMAIL_CODE_SECRET",
    "EMAIL_TOKEN_LIFETIME",
    "PASSWORD_HASHER",
    "PASSWORD_MAX_LENGTH",
    "REFRESH_GRACE",
    "REFRESH_TOKEN_LIFETIME",
    "Account",
    "AccountStatus",
    "AccountStore",
    "AppPassword",
    "EmailTokenPurpose",
    "InviteCodeInfo",
    "InviteCodeUse",
    "Login",
    "NewAppPassword",
    "PasswordHash",
    "RefreshGrant",
    "hash_password",
    "new_token_id",
    "normalize_email",
]
