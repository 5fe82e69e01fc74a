"""Authentication of XRPC requests: session tokens, service-auth tokens and the admin password.

- **Session tokens** (legacy ``createSession`` auth), as the reference PDS issues them: HS256
  with the server secret; access tokens have header ``typ: at+jwt`` and payload ``{scope, aud
  (the PDS DID), sub (the account DID), iat, exp}`` with scope ``com.atproto.access``,
  ``com.atproto.appPass`` or ``com.atproto.appPassPrivileged``; refresh tokens ``typ:
  refresh+jwt``, scope ``com.atproto.refresh`` and a ``jti``. Failures answer as the reference:
  400 ``InvalidToken`` / ``ExpiredToken``, 401 ``AuthMissing`` without a token.
- **Service auth** (inter-service JWTs): ES256K/ES256 signed with the issuer's repo key, ``iss``
  (a DID, optionally ``#service``), ``aud``, ``lxm``, ``exp``, ``iat``, ``jti``. The issuer's
  key comes from a resolver callback; when the signature does not match, the key is resolved
  once more with ``force_refresh`` (a freshly rotated key), as the reference does. Failures are
  401 with the reference's names (``BadJwt``, ``BadJwtType``, ``JwtExpired``,
  ``BadJwtAudience``, ``BadJwtLexiconMethod``, ``BadJwtIss``, ``BadJwtSignature``).
- **Admin**: HTTP Basic ``admin:<token>``; the token is read from a file by
  :func:`read_admin_token`.
- **Accounts** (the reference's ``findAccount``), when the service hosts accounts
  (:attr:`Authenticator.account_status`): a session token whose account is no longer hosted
  here is 403 ``AccountNotFound`` (it stays valid until it expires, the account does not);
  routes that ask also refuse a taken-down account (401 ``AccountTakedown``) or a deactivated
  one (401 ``AccountDeactivated``), whatever the token says.

:class:`Authenticator` holds the secrets and makes the verifiers a route names as its ``auth``
(see :mod:`strato.xrpc.router`); each returns the request's credentials or raises
:class:`XrpcError`, and is a :class:`Verifier`, which says what it accepts.
"""

from __future__ import annotations

import base64
import heapq
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request

from strato.crypto import PrivateKey, PublicKey
from strato.syntax import is_did
from strato.xrpc import jws
from strato.xrpc.errors import XrpcError, auth_required, forbidden, invalid_request

ACCESS_TYP: Final = "at+jwt"
REFRESH_TYP: Final = "refresh+jwt"
#: Access tokens live 2 hours, refresh tokens 90 days (the reference's defaults).
ACCESS_LIFETIME: Final = 2 * 3600
REFRESH_LIFETIME: Final = 90 * 86400
#: Service tokens minted without an explicit expiry live 60 seconds.
SERVICE_LIFETIME: Final = 60
#: How far a service token's ``iat`` may be in the future (other hosts' clocks drift).
CLOCK_SKEW: Final = 10
#: The most service-token ``jti`` values remembered against replays (:class:`ReplayCache`).
DEFAULT_REPLAY_ENTRIES: Final = 100_000

Clock = Callable[[], float]


class AuthScope(StrEnum):
    """The ``scope`` claim of a session token (``auth-scope.ts`` in the reference)."""

    ACCESS = "com.atproto.access"
    REFRESH = "com.atproto.refresh"
    APP_PASS = "com.atproto.appPass"
    APP_PASS_PRIVILEGED = "com.atproto.appPassPrivileged"
    SIGNUP_QUEUED = "com.atproto.signupQueued"
    TAKENDOWN = "com.atproto.takendown"


#: Scopes a full-access method accepts, then privileged (app passwords with DM access), then
#: standard (any app password).
ACCESS_FULL: Final = frozenset({AuthScope.ACCESS})
ACCESS_PRIVILEGED: Final = ACCESS_FULL | {AuthScope.APP_PASS_PRIVILEGED}
ACCESS_STANDARD: Final = ACCESS_PRIVILEGED | {AuthScope.APP_PASS}


@dataclass(frozen=True, slots=True)
class AccessCredentials:
    """A verified access token: the account and the token's scope."""

    did: str
    scope: AuthScope


@dataclass(frozen=True, slots=True)
class RefreshCredentials:
    """A verified refresh token: the account and the token id (``jti``)."""

    did: str
    token_id: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class ServiceCredentials:
    """A verified service-auth token: ``iss`` as sent (``did`` or ``did#service``), its DID,
    the audience and the method it was minted for."""

    iss: str
    did: str
    aud: str
    lxm: str | None


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    """The admin password was given."""


Credentials = AccessCredentials | RefreshCredentials | ServiceCredentials | AdminCredentials | None
#: A route's auth requirement: checks the request (for the method ``nsid``) and returns its
#: credentials, or raises :class:`XrpcError`.
AuthVerifier = Callable[[Request, str], Awaitable[Credentials]]
#: The hosting status of an account (``active``, ``takendown``, ``deactivated``), None when it
#: is not hosted here.
AccountStatusFn = Callable[[str], str | None]
#: Resolves a service token's issuer key: ``(did, key id, force_refresh)`` to the public key
#: (the ``#atproto`` verification method, or ``#atproto_label`` for labelers).
KeyResolver = Callable[[str, str, bool], Awaitable[PublicKey]]


# ---------------------------------------------------------------------------------------------
# The Authorization header


def authorization(request: Request) -> tuple[str, str] | None:
    """``(type, credentials)`` of the Authorization header (type upper-cased), None when absent;
    a malformed header or an unknown type is a 400 ``InvalidToken``, as in the reference."""
    header = request.headers.get("authorization")
    if not header:
        return None
    parts = header.split(" ")
    if len(parts) != 2:
        raise invalid_request("Malformed authorization header", "InvalidToken")
    kind = parts[0].upper()
    if kind not in ("BEARER", "BASIC", "DPOP"):
        raise invalid_request(f"Unsupported authorization type: {parts[0]}", "InvalidToken")
    return kind, parts[1]


def bearer_token(request: Request) -> str | None:
    """The Bearer token of the request, None when there is none (or another scheme)."""
    parsed = authorization(request)
    return parsed[1] if parsed is not None and parsed[0] == "BEARER" else None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(user, password)`` of HTTP Basic auth, None when absent or undecodable."""
    parsed = authorization(request)
    if parsed is None or parsed[0] != "BASIC":
        return None
    try:
        decoded = base64.b64decode(parsed[1], validate=True).decode("utf-8")
    except ValueError:  # not base64 (binascii.Error), not ASCII text, not UTF-8 once decoded
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


# ---------------------------------------------------------------------------------------------
# Session tokens


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """A fresh access and refresh token pair, and the refresh token's id and expiry (which the
    PDS stores to revoke and rotate it)."""

    access_jwt: str
    refresh_jwt: str
    refresh_id: str
    refresh_expires_at: int


def new_refresh_id() -> str:
    """A random refresh-token id (32 random bytes, base64, like the reference's)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def create_session_tokens(
    secret: bytes,
    service_did: str,
    did: str,
    *,
    scope: AuthScope = AuthScope.ACCESS,
    refresh_id: str | None = None,
    now: float | None = None,
) -> SessionTokens:
    """An access token with ``scope`` and a refresh token for ``did``, both with ``aud`` =
    ``service_did``, signed HS256 with ``secret``."""
    iat = int(time.time() if now is None else now)
    jti = refresh_id or new_refresh_id()
    access = {
        "scope": str(scope),
        "aud": service_did,
        "sub": did,
        "iat": iat,
        "exp": iat + ACCESS_LIFETIME,
    }
    refresh = {
        "scope": str(AuthScope.REFRESH),
        "aud": service_did,
        "sub": did,
        "jti": jti,
        "iat": iat,
        "exp": iat + REFRESH_LIFETIME,
    }
    return SessionTokens(
        jws.encode_hs256(access, secret, ACCESS_TYP),
        jws.encode_hs256(refresh, secret, REFRESH_TYP),
        jti,
        iat + REFRESH_LIFETIME,
    )


def _invalid_token(message: str = "Token could not be verified") -> XrpcError:
    return invalid_request(message, "InvalidToken")


def verify_session_token(
    token: str,
    secret: bytes,
    *,
    typ: str,
    audience: str,
    scopes: Iterable[str],
    now: float,
    allow_expired: bool = False,
) -> dict[str, Any]:
    """The payload of a session token that is well formed, of type ``typ``, MACed with
    ``secret``, for ``audience``, unexpired and with one of ``scopes``; otherwise a 400
    ``InvalidToken`` (``ExpiredToken`` once expired)."""
    try:
        parsed = jws.decode(token, (jws.HS256,))
    except jws.JwsError:
        raise _invalid_token() from None
    if parsed.header.get("typ") != typ or not jws.verify_hs256(parsed, secret):
        raise _invalid_token()
    payload = parsed.payload
    exp = _number(payload.get("exp"))
    if exp is None or payload.get("aud") != audience:
        raise _invalid_token()
    if not allow_expired and now >= exp:
        raise invalid_request("Token has expired", "ExpiredToken")
    sub, jti = payload.get("sub"), payload.get("jti")
    if "lxm" in payload or "cnf" in payload or type(sub) is not str or not is_did(sub):
        raise _invalid_token("Malformed token")
    if jti is not None and type(jti) is not str:
        raise _invalid_token("Malformed token")
    if payload.get("scope") not in set(scopes):
        raise _invalid_token("Bad token scope")
    return payload


def _number(value: object) -> float | None:
    """A JSON number claim (never a boolean), else None."""
    return float(value) if type(value) in (int, float) else None  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Service auth


def create_service_jwt(
    key: PrivateKey,
    iss: str,
    aud: str,
    lxm: str | None,
    *,
    exp: int | None = None,
    now: float | None = None,
) -> str:
    """A service-auth token from ``iss`` (the account DID) for ``aud`` (``did#service``) and the
    method ``lxm``, signed with the account's repo key; lives 60 s unless ``exp`` is given."""
    iat = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iat": iat,
        "iss": iss,
        "aud": aud,
        "exp": exp or iat + SERVICE_LIFETIME,
    }
    if lxm is not None:
        payload["lxm"] = lxm
    payload["jti"] = secrets.token_hex(16)
    return jws.encode_ecdsa(payload, key)


def _bad(error: str, message: str) -> XrpcError:
    return auth_required(message, error)


class ReplayCache:
    """The ``jti`` values of service tokens already accepted, kept until their ``exp``, so a
    captured token cannot be replayed.

    Bounded: an issuer may sign as many tokens as it likes, each with its own ``jti`` and an
    ``exp`` years ahead, so the entries sit in a heap by expiry; each check first drops those
    expired, and past ``max_entries`` the soonest to expire goes (a flood of fresh tokens can
    then shorten how long the others are remembered, never make a check cost more than a
    logarithm of the bound)."""

    def __init__(self, max_entries: int = DEFAULT_REPLAY_ENTRIES) -> None:
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, key: str, exp: float, now: float) -> bool:
        """Record ``key``; False when it was already seen and has not expired."""
        expiry = self._expiry
        while expiry and (expiry[0][0] <= now or len(self._seen) >= self.max_entries):
            when, old = heapq.heappop(expiry)
            if self._seen.get(old) == when:
                del self._seen[old]
        previous = self._seen.get(key)
        if previous is not None and previous > now:
            return False
        self._seen[key] = exp
        heapq.heappush(expiry, (exp, key))
        return True


@dataclass
class ServiceAuthVerifier:
    """Verifies service-auth tokens addressed to ``audiences`` (this service's DID and
    ``did#service`` forms), resolving issuers' keys through ``resolve_key``."""

    audiences: frozenset[str]
    resolve_key: KeyResolver
    clock: Clock = time.time
    replays: ReplayCache = field(default_factory=ReplayCache)

    async def verify(self, token: str, lxm: str | None) -> ServiceCredentials:
        """Check ``token`` for the method ``lxm`` (None: any method)."""
        try:
            parsed = jws.decode(token, (jws.ES256K, jws.ES256))
        except jws.JwsError as err:
            raise _bad("BadJwt", f"poorly formatted jwt: {err.reason}") from None
        typ = parsed.header.get("typ")
        if typ in (ACCESS_TYP, REFRESH_TYP, "dpop+jwt"):
            raise _bad("BadJwtType", f'Invalid jwt type "{typ}"')
        payload = parsed.payload
        iss, aud = payload.get("iss"), payload.get("aud")
        exp, iat = _number(payload.get("exp")), _number(payload.get("iat"))
        claimed_lxm, jti = payload.get("lxm"), payload.get("jti")
        if (
            type(iss) is not str
            or type(aud) is not str
            or exp is None
            or ("iat" in payload and iat is None)
            or (claimed_lxm is not None and type(claimed_lxm) is not str)
            or (jti is not None and type(jti) is not str)
        ):
            raise _bad("BadJwt", "poorly formatted jwt")
        now = self.clock()
        if now > exp:
            raise _bad("JwtExpired", "jwt expired")
        if iat is not None and iat > now + CLOCK_SKEW:
            raise _bad("BadJwt", "jwt issued in the future")
        if aud not in self.audiences:
            raise _bad("BadJwtAudience", "jwt audience does not match service did")
        if lxm is not None and claimed_lxm != lxm:
            which = "bad" if claimed_lxm is not None else "missing"
            raise _bad(
                "BadJwtLexiconMethod", f'{which} jwt lexicon method ("lxm"). must match: {lxm}'
            )
        did, key_id = _issuer(iss, parsed.header.get("kid"))
        key = await self.resolve_key(did, key_id, False)
        if not jws.verify_ecdsa(parsed, key):
            fresh = await self.resolve_key(did, key_id, True)
            if fresh == key or not jws.verify_ecdsa(parsed, fresh):
                raise _bad("BadJwtSignature", "jwt signature does not match jwt issuer")
        if jti is not None and not self.replays.check(f"{iss} {jti}", exp, now):
            raise _bad("BadJwt", "jwt replayed")
        return ServiceCredentials(iss, did, aud, claimed_lxm)


def _issuer(iss: str, kid: object) -> tuple[str, str]:
    """The issuer DID and the verification-method id of its signing key: ``kid`` (``#id``) when
    present, else ``atproto_label`` for a labeler (``iss`` ``did#atproto_labeler``), else
    ``atproto``."""
    did, hash_, service = iss.partition("#")
    if not is_did(did) or (hash_ and (not service or "#" in service)):
        raise _bad("BadJwtIss", "jwt iss is not a valid did")
    if kid is not None:
        if type(kid) is not str or not kid.startswith("#") or len(kid) < 2:
            raise _bad("BadJwt", "poorly formatted jwt: bad kid")
        return did, kid[1:]
    return did, "atproto_label" if service == "atproto_labeler" else "atproto"


# ---------------------------------------------------------------------------------------------
# Verifiers for routes


@dataclass(frozen=True, slots=True)
class Verifier:
    """A route's auth requirement: ``check`` (what the router calls) and what it accepts, for
    whoever reads a method table (the auth matrix of the tests derives its cases from it): the
    kinds of credentials in ``accepts`` (``access`` and ``refresh`` session tokens of
    ``scopes``, ``service`` tokens, the ``admin`` password), whether a request without any
    passes (``optional``), whether an expired refresh token does (``expired``), and the
    account states refused beyond a missing account (``takendown``, ``deactivated``)."""

    check: AuthVerifier
    accepts: frozenset[str]
    scopes: frozenset[AuthScope] = frozenset()
    optional: bool = False
    expired: bool = False
    refused: frozenset[str] = frozenset()

    async def __call__(self, request: Request, nsid: str) -> Credentials:
        return await self.check(request, nsid)


#: What a verifier that refuses an account state answers (the reference's errors).
_REFUSALS: Final = {
    "takendown": ("Account has been taken down", "AccountTakedown"),
    "deactivated": ("Account is deactivated", "AccountDeactivated"),
}


def _refused(check_takedown: bool, check_deactivated: bool) -> frozenset[str]:
    checked = {"takendown": check_takedown, "deactivated": check_deactivated}
    return frozenset(state for state, check in checked.items() if check)


@dataclass
class Authenticator:
    """The secrets of one service and the verifiers its routes use: ``jwt_secret`` and
    ``service_did`` for session tokens, ``admin_token`` for admin routes (None: no admin
    access), ``service_auth`` for service tokens (None: refused), ``account_status`` to check
    the accounts session tokens name (None: a service that hosts no accounts)."""

    jwt_secret: bytes
    service_did: str
    admin_token: str | None = None
    service_auth: ServiceAuthVerifier | None = None
    clock: Clock = time.time
    account_status: AccountStatusFn | None = None

    def access(
        self,
        scopes: frozenset[AuthScope] = ACCESS_STANDARD,
        *,
        check_takedown: bool = False,
        check_deactivated: bool = False,
    ) -> Verifier:
        """A valid access token with one of ``scopes``, of an account hosted here that is not
        taken down (``check_takedown``) nor deactivated (``check_deactivated``)."""
        refused = _refused(check_takedown, check_deactivated)

        async def verify(request: Request, nsid: str) -> AccessCredentials:
            token = self._bearer(request)
            payload = verify_session_token(
                token, self.jwt_secret, typ=ACCESS_TYP, audience=self.service_did,
                scopes=scopes, now=self.clock(),
            )  # fmt: skip
            self._check_account(payload["sub"], refused)
            return AccessCredentials(payload["sub"], AuthScope(payload["scope"]))

        return Verifier(verify, frozenset({"access"}), scopes, refused=refused)

    def refresh(self, allow_expired: bool = False, *, check_takedown: bool = False) -> Verifier:
        """A valid refresh token (which must carry its ``jti``) of an account hosted here, not
        taken down with ``check_takedown``."""
        refused = _refused(check_takedown, False)

        async def verify(request: Request, nsid: str) -> RefreshCredentials:
            token = self._bearer(request)
            payload = verify_session_token(
                token, self.jwt_secret, typ=REFRESH_TYP, audience=self.service_did,
                scopes=(AuthScope.REFRESH,), now=self.clock(), allow_expired=allow_expired,
            )  # fmt: skip
            jti = payload.get("jti")
            if jti is None:
                raise auth_required("Unexpected missing refresh token id", "MissingTokenId")
            self._check_account(payload["sub"], refused)
            return RefreshCredentials(payload["sub"], jti, int(payload["exp"]))

        scopes = frozenset({AuthScope.REFRESH})
        return Verifier(
            verify, frozenset({"refresh"}), scopes, expired=allow_expired, refused=refused
        )

    def optional_access(self, scopes: frozenset[AuthScope] = ACCESS_STANDARD) -> Verifier:
        """An access token when there is an Authorization header, else no credentials."""
        access = self.access(scopes)

        async def verify(request: Request, nsid: str) -> Credentials:
            if authorization(request) is None:
                return None
            return await access(request, nsid)

        return Verifier(verify, access.accepts, scopes, optional=True)

    def service(self, lxm_required: bool = True, *, optional: bool = False) -> Verifier:
        """A service-auth token from another host, minted for this method unless
        ``lxm_required`` is False; with ``optional``, no credentials without an Authorization
        header (the reference's ``userServiceAuthOptional``)."""

        async def verify(request: Request, nsid: str) -> ServiceCredentials | None:
            if optional and authorization(request) is None:
                return None
            token = bearer_token(request)
            if token is None:
                raise auth_required("missing jwt", "MissingJwt")
            if self.service_auth is None:
                raise auth_required("service auth is not accepted here", "UntrustedIss")
            return await self.service_auth.verify(token, nsid if lxm_required else None)

        return Verifier(verify, frozenset({"service"}), optional=optional)

    def access_or_service(
        self, scopes: frozenset[AuthScope] = ACCESS_STANDARD, *, check_takedown: bool = False
    ) -> Verifier:
        """A service-auth token when the bearer token names a method (``lxm``), else an access
        token (the reference's ``authorizationOrUserServiceAuth``); either names an account
        hosted here, not taken down with ``check_takedown``."""
        access = self.access(scopes, check_takedown=check_takedown)
        service = self.service()

        async def verify(request: Request, nsid: str) -> Credentials:
            token = bearer_token(request)
            if token is not None and _names_a_method(token):
                credentials = await service(request, nsid)
                if isinstance(credentials, ServiceCredentials):
                    self._check_account(credentials.did, access.refused)
                return credentials
            return await access(request, nsid)

        return Verifier(verify, frozenset({"access", "service"}), scopes, refused=access.refused)

    def admin(self) -> Verifier:
        """HTTP Basic ``admin:<admin token>``."""

        async def verify(request: Request, nsid: str) -> AdminCredentials:
            given = basic_credentials(request)
            expected = self.admin_token
            if given is None or expected is None or given[0] != "admin":
                raise auth_required()
            if not hmac.compare_digest(given[1].encode(), expected.encode()):
                raise auth_required()
            return AdminCredentials()

        return Verifier(verify, frozenset({"admin"}))

    def _check_account(self, did: str, refused: frozenset[str]) -> None:
        """The reference's ``findAccount`` for a verified token's account."""
        if self.account_status is None:
            return
        status = self.account_status(did)
        if status is None:
            raise forbidden("Account not found", "AccountNotFound")
        if status in refused:
            raise auth_required(*_REFUSALS[status])

    @staticmethod
    def _bearer(request: Request) -> str:
        parsed = authorization(request)
        if parsed is None:
            raise auth_required(None, "AuthMissing")
        if parsed[0] != "BEARER":
            raise invalid_request("Unexpected authorization type", "InvalidToken")
        return parsed[1]


def _names_a_method(token: str) -> bool:
    """Whether a token (not yet verified) carries an ``lxm`` claim: only service tokens do."""
    try:
        parsed = jws.decode(token, (jws.ES256K, jws.ES256, jws.HS256))
    except jws.JwsError:
        return False
    return parsed.payload.get("lxm") is not None


async def unauthenticated(request: Request, nsid: str) -> Credentials:
    """The verifier of public routes: no credentials needed."""
    return None


#: The shortest admin password a server accepts from its token file.
MIN_ADMIN_TOKEN: Final = 16


def read_admin_token(path: Path | None) -> str | None:
    """The admin password in the file ``path`` (None: no file, no admin access). Raises
    ValueError for a file that cannot be read or holds fewer than 16 characters."""
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ValueError(f"cannot read the admin token file {path}: {err}") from err
    if len(token) < MIN_ADMIN_TOKEN:
        raise ValueError(f"the admin token in {path} is shorter than 16 characters")
    return token
