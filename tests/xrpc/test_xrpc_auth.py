"""Auth: session tokens as the reference PDS issues and checks them, service-auth tokens (every
rejection with the reference's name, the key re-resolved after a rotation, replays), admin
Basic auth, and the Authorization header parsing."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import msgspec
import pytest
from starlette.requests import Request
from strato.crypto import K256, P256, PrivateKey, PublicKey
from strato.xrpc import jws
from strato.xrpc.auth import (
    ACCESS_FULL,
    AccessCredentials,
    AdminCredentials,
    Authenticator,
    AuthScope,
    Credentials,
    RefreshCredentials,
    ReplayCache,
    ServiceAuthVerifier,
    ServiceCredentials,
    create_service_jwt,
    create_session_tokens,
)
from strato.xrpc.errors import XrpcError
from xrpc_demo import FakeClock

SECRET = b"server-secret"
PDS = "did:web:pds.test"
ALICE = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
APPVIEW = "did:web:api.test"
AUDIENCES = frozenset({APPVIEW, f"{APPVIEW}#bsky_appview"})
NSID = "app.bsky.feed.getTimeline"


def request(authorization: str | None = None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "headers": headers, "client": ("127.0.0.1", 1)})


def check(verifier: Any, authorization: str | None, nsid: str = NSID) -> Credentials:
    result: Credentials = asyncio.run(verifier(request(authorization), nsid))
    return result


def refusal(
    verifier: Any, authorization: str | None, nsid: str = NSID
) -> tuple[int, str, str | None]:
    with pytest.raises(XrpcError) as info:
        check(verifier, authorization, nsid)
    return info.value.status, info.value.error, info.value.message


def authenticator(clock: FakeClock, **kwargs: Any) -> Authenticator:
    return Authenticator(SECRET, PDS, admin_token="hunter2", clock=clock, **kwargs)


# ---------------------------------------------------------------------------------------------
# Session tokens


def test_session_tokens_have_the_reference_claims() -> None:
    tokens = create_session_tokens(SECRET, PDS, ALICE, now=1_000_000)
    access = jws.decode(tokens.access_jwt, (jws.HS256,))
    assert access.header == {"typ": "at+jwt", "alg": "HS256"}
    assert access.payload == {
        "scope": "com.atproto.access",
        "aud": PDS,
        "sub": ALICE,
        "iat": 1_000_000,
        "exp": 1_000_000 + 2 * 3600,
    }
    refresh = jws.decode(tokens.refresh_jwt, (jws.HS256,))
    assert refresh.header == {"typ": "refresh+jwt", "alg": "HS256"}
    assert refresh.payload == {
        "scope": "com.atproto.refresh",
        "aud": PDS,
        "sub": ALICE,
        "jti": tokens.refresh_id,
        "iat": 1_000_000,
        "exp": 1_000_000 + 90 * 86400,
    }
    assert tokens.refresh_expires_at == refresh.payload["exp"]
    assert len(base64.b64decode(tokens.refresh_id)) == 32
    other = create_session_tokens(SECRET, PDS, ALICE, now=1_000_000)
    assert other.refresh_id != tokens.refresh_id


def test_access_and_refresh_verify() -> None:
    clock = FakeClock(1_000_100)
    auth = authenticator(clock)
    tokens = create_session_tokens(SECRET, PDS, ALICE, scope=AuthScope.APP_PASS, now=1_000_000)
    assert check(auth.access(), f"Bearer {tokens.access_jwt}") == AccessCredentials(
        ALICE, AuthScope.APP_PASS
    )
    assert check(auth.refresh(), f"bearer {tokens.refresh_jwt}") == RefreshCredentials(
        ALICE, tokens.refresh_id, tokens.refresh_expires_at
    )
    assert check(auth.optional_access(), None) is None
    assert check(auth.optional_access(), f"Bearer {tokens.access_jwt}") == AccessCredentials(
        ALICE, AuthScope.APP_PASS
    )


def _hs(payload: dict[str, Any], typ: str = "at+jwt", secret: bytes = SECRET) -> str:
    return "Bearer " + jws.encode_hs256(payload, secret, typ)


GOOD = {"scope": "com.atproto.access", "aud": PDS, "sub": ALICE, "iat": 1000, "exp": 9000}
INVALID = (400, "InvalidToken", "Token could not be verified")
MALFORMED = (400, "InvalidToken", "Malformed token")
NONE_HEADER = jws.b64url_encode(b'{"alg":"none"}')
EMPTY = jws.b64url_encode(b"{}")


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (None, (401, "AuthMissing", "Authentication Required")),
        ("Bearer", (400, "InvalidToken", "Malformed authorization header")),
        ("Bearer a b", (400, "InvalidToken", "Malformed authorization header")),
        ("Token abc", (400, "InvalidToken", "Unsupported authorization type: Token")),
        ("Basic YWRtaW46eA==", (400, "InvalidToken", "Unexpected authorization type")),
        ("Bearer not-a-jwt", INVALID),
        (_hs(GOOD, secret=b"someone else"), INVALID),
        (_hs(GOOD, typ="refresh+jwt"), INVALID),
        (_hs(GOOD, typ="JWT"), INVALID),
        (_hs({**GOOD, "aud": "did:web:other.test"}), INVALID),
        (_hs({k: v for k, v in GOOD.items() if k != "exp"}), INVALID),
        (_hs({**GOOD, "exp": True}), INVALID),
        (_hs({**GOOD, "exp": 4000}), (400, "ExpiredToken", "Token has expired")),
        (_hs({**GOOD, "scope": "com.atproto.refresh"}), (400, "InvalidToken", "Bad token scope")),
        (_hs({**GOOD, "scope": "com.atproto.appPass"}), (400, "InvalidToken", "Bad token scope")),
        (_hs({**GOOD, "lxm": NSID}), MALFORMED),
        (_hs({**GOOD, "cnf": {"jkt": "x"}}), MALFORMED),
        (_hs({**GOOD, "sub": "alice"}), MALFORMED),
        (_hs({**GOOD, "jti": 5}), MALFORMED),
        (f"Bearer {NONE_HEADER}.{EMPTY}.", INVALID),
        ("Bearer " + jws.encode_ecdsa(GOOD, PrivateKey.generate(), typ="at+jwt"), INVALID),
        ("Bearer " + "a" * 9000, INVALID),
    ],
)
def test_access_token_refusals(authorization: str | None, expected: tuple[int, str, str]) -> None:
    auth = authenticator(FakeClock(5000))
    assert refusal(auth.access(ACCESS_FULL), authorization) == expected


def test_refresh_token_refusals() -> None:
    clock = FakeClock(1_000_000)
    auth = authenticator(clock)
    tokens = create_session_tokens(SECRET, PDS, ALICE, now=clock.now)
    assert refusal(auth.refresh(), f"Bearer {tokens.access_jwt}") == INVALID
    assert refusal(auth.access(), f"Bearer {tokens.refresh_jwt}") == INVALID
    no_jti = _hs({**GOOD, "scope": "com.atproto.refresh", "exp": 2_000_000}, typ="refresh+jwt")
    assert refusal(auth.refresh(), no_jti) == (
        401,
        "MissingTokenId",
        "Unexpected missing refresh token id",
    )
    clock.now += 91 * 86400
    assert refusal(auth.refresh(), f"Bearer {tokens.refresh_jwt}")[1] == "ExpiredToken"
    expired = check(auth.refresh(allow_expired=True), f"Bearer {tokens.refresh_jwt}")
    assert isinstance(expired, RefreshCredentials)
    assert expired.token_id == tokens.refresh_id


# ---------------------------------------------------------------------------------------------
# Admin


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_admin_basic_auth() -> None:
    auth = authenticator(FakeClock())
    assert check(auth.admin(), _basic("admin:hunter2")) == AdminCredentials()
    assert check(auth.admin(), "basic " + base64.b64encode(b"admin:hunter2").decode()) == (
        AdminCredentials()
    )
    denied = (401, "AuthenticationRequired", "Authentication Required")
    for header in (
        None,
        _basic("admin:wrong"),
        _basic("root:hunter2"),
        _basic("admin"),
        "Basic !!!",
        "Basic YWRtaW46aHVudGVyMg==\u00cf",  # not ASCII (as in a crash fuzz/ py_jws found)
        "Bearer abc",
    ):
        assert refusal(auth.admin(), header) == denied
    closed = Authenticator(SECRET, PDS)
    assert refusal(closed.admin(), _basic("admin:")) == denied


# ---------------------------------------------------------------------------------------------
# Service auth


class Keys:
    """An issuer key resolver: keys by (DID, key id), optionally a stale key served until a
    forced refresh; records the calls."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], PublicKey] = {}
        self.stale: dict[tuple[str, str], PublicKey] = {}
        self.calls: list[tuple[str, str, bool]] = []

    async def __call__(self, did: str, key_id: str, force_refresh: bool) -> PublicKey:
        self.calls.append((did, key_id, force_refresh))
        if not force_refresh and (did, key_id) in self.stale:
            return self.stale[(did, key_id)]
        if (did, key_id) not in self.keys:
            raise XrpcError(401, None, "could not resolve iss did")
        return self.keys[(did, key_id)]


def service_setup(clock: FakeClock) -> tuple[PrivateKey, Keys, ServiceAuthVerifier]:
    key = PrivateKey.generate(K256)
    keys = Keys()
    keys.keys[(ALICE, "atproto")] = key.public_key
    return key, keys, ServiceAuthVerifier(AUDIENCES, keys, clock=clock)


def verify(verifier: ServiceAuthVerifier, token: str, lxm: str | None = NSID) -> ServiceCredentials:
    return asyncio.run(verifier.verify(token, lxm))


def service_refusal(
    verifier: ServiceAuthVerifier, token: str, lxm: str | None = NSID
) -> tuple[int, str, str | None]:
    with pytest.raises(XrpcError) as info:
        verify(verifier, token, lxm)
    return info.value.status, info.value.error, info.value.message


def test_service_jwt_claims_and_round_trip() -> None:
    clock = FakeClock(1_000_000)
    key, keys, verifier = service_setup(clock)
    token = create_service_jwt(key, ALICE, f"{APPVIEW}#bsky_appview", NSID, now=clock.now)
    parsed = jws.decode(token, (jws.ES256K,))
    assert parsed.header == {"typ": "JWT", "alg": "ES256K"}
    payload = dict(parsed.payload)
    jti = payload.pop("jti")
    assert len(jti) == 32
    assert int(jti, 16) >= 0
    assert payload == {
        "iat": 1_000_000,
        "iss": ALICE,
        "aud": f"{APPVIEW}#bsky_appview",
        "exp": 1_000_060,
        "lxm": NSID,
    }
    assert verify(verifier, token) == ServiceCredentials(
        ALICE, ALICE, f"{APPVIEW}#bsky_appview", NSID
    )
    assert keys.calls == [(ALICE, "atproto", False)]


def test_p256_service_jwt_and_no_lxm() -> None:
    clock = FakeClock(1_000_000)
    _, keys, verifier = service_setup(clock)
    p256 = PrivateKey.generate(P256)
    keys.keys[(ALICE, "atproto")] = p256.public_key
    token = create_service_jwt(p256, ALICE, APPVIEW, None, exp=1_000_500, now=clock.now)
    assert jws.decode(token, (jws.ES256,)).header["alg"] == "ES256"
    assert verify(verifier, token, None).lxm is None
    assert service_refusal(verifier, token) == (
        401,
        "BadJwtLexiconMethod",
        f'missing jwt lexicon method ("lxm"). must match: {NSID}',
    )


def _signed(key: PrivateKey, payload: dict[str, Any], **header: Any) -> str:
    head = {"typ": "JWT", "alg": jws.CURVE_ALGS[key.curve], **header}
    encoded = [jws.b64url_encode(msgspec.json.encode(part)) for part in (head, payload)]
    signing_input = ".".join(encoded)
    return f"{signing_input}.{jws.b64url_encode(key.sign(signing_input.encode()))}"


def test_service_jwt_refusals() -> None:
    clock = FakeClock(1_000_000)
    key, _, verifier = service_setup(clock)
    good = {"iat": 1_000_000, "iss": ALICE, "aud": APPVIEW, "exp": 1_000_060, "lxm": NSID}

    def refused(token: str) -> tuple[int, str, str | None]:
        return service_refusal(verifier, token)

    token = _signed(key, good)
    head, body, sig = token.split(".")
    # bad algorithms
    assert refused(jws.encode_hs256(good, b"secret", "JWT"))[:2] == (401, "BadJwt")
    none = f"{NONE_HEADER}.{body}."
    assert refused(none) == (401, "BadJwt", "poorly formatted jwt: algorithm 'none' not allowed")
    # high-S twin of a valid signature
    raw = jws.b64url_decode(sig)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high = raw[:32] + (n - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    assert refused(f"{head}.{body}.{jws.b64url_encode(high)}") == (
        401,
        "BadJwtSignature",
        "jwt signature does not match jwt issuer",
    )
    # tampered payload
    tampered = jws.b64url_encode(msgspec.json.encode({**good, "exp": 1_000_050}))
    assert refused(f"{head}.{tampered}.{sig}")[1] == "BadJwtSignature"
    assert refused(_signed(key, {**good, "exp": 999_999})) == (401, "JwtExpired", "jwt expired")
    assert refused(_signed(key, {**good, "aud": "did:web:other.test"})) == (
        401,
        "BadJwtAudience",
        "jwt audience does not match service did",
    )
    assert refused(_signed(key, {**good, "lxm": "app.bsky.feed.getFeed"})) == (
        401,
        "BadJwtLexiconMethod",
        f'bad jwt lexicon method ("lxm"). must match: {NSID}',
    )
    # signed by a key that is not the issuer's
    assert refused(_signed(PrivateKey.generate(K256), good))[1] == "BadJwtSignature"
    assert refused("a" * 9000) == (401, "BadJwt", "poorly formatted jwt: token too large")
    assert refused(_signed(key, good, typ="at+jwt")) == (
        401,
        "BadJwtType",
        'Invalid jwt type "at+jwt"',
    )
    assert refused(_signed(key, good, typ="dpop+jwt"))[1] == "BadJwtType"
    assert refused(_signed(key, {**good, "iss": "alice"})) == (
        401,
        "BadJwtIss",
        "jwt iss is not a valid did",
    )
    assert refused(_signed(key, {**good, "iss": f"{ALICE}#"}))[1] == "BadJwtIss"
    assert refused(_signed(key, {**good, "iat": 1_000_100})) == (
        401,
        "BadJwt",
        "jwt issued in the future",
    )
    for broken in ({**good, "exp": "soon"}, {**good, "aud": 5}, {**good, "lxm": 1}):
        assert refused(_signed(key, broken)) == (401, "BadJwt", "poorly formatted jwt")
    assert refused(_signed(key, good, kid="atproto"))[1] == "BadJwt"


def test_replayed_service_jwt_is_refused() -> None:
    clock = FakeClock(1_000_000)
    key, _, verifier = service_setup(clock)
    token = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    verify(verifier, token)
    assert service_refusal(verifier, token) == (401, "BadJwt", "jwt replayed")
    fresh = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    assert verify(verifier, fresh).did == ALICE


def test_the_replay_cache_is_bounded_whatever_the_tokens_expiry() -> None:
    # An issuer may mint any number of tokens with their own jti and an exp years ahead:
    # without a bound every one of them stays, and each check grows dearer.
    cache = ReplayCache(max_entries=100)
    far = 1_000 + 10 * 365 * 86400
    for n in range(1_000):
        assert cache.check(f"did:plc:flood {n}", far, now=1_000)
        assert len(cache) <= 100
    assert not cache.check("did:plc:flood 999", far, now=1_000)  # the latest still remembered
    # expired entries go first, whatever the bound
    small = ReplayCache(max_entries=100)
    for n in range(50):
        small.check(f"k{n}", 1_010, now=1_000)
    assert small.check("late", 2_000, now=1_020)
    assert len(small) == 1
    assert small.check("k0", 1_030, now=1_020)  # its entry expired: a new token, not a replay


def test_rotated_key_is_resolved_again() -> None:
    clock = FakeClock(1_000_000)
    key, keys, verifier = service_setup(clock)
    keys.stale[(ALICE, "atproto")] = PrivateKey.generate(K256).public_key
    token = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    assert verify(verifier, token).did == ALICE
    assert keys.calls == [(ALICE, "atproto", False), (ALICE, "atproto", True)]


def test_key_ids_by_issuer_and_kid() -> None:
    clock = FakeClock(1_000_000)
    _, keys, verifier = service_setup(clock)
    labeler = PrivateKey.generate(K256)
    keys.keys[(ALICE, "atproto_label")] = labeler.public_key
    iss = f"{ALICE}#atproto_labeler"
    token = create_service_jwt(labeler, iss, APPVIEW, NSID, now=clock.now)
    assert verify(verifier, token) == ServiceCredentials(iss, ALICE, APPVIEW, NSID)
    payload = {"iat": 1_000_000, "iss": ALICE, "aud": APPVIEW, "exp": 1_000_060, "lxm": NSID}
    assert verify(verifier, _signed(labeler, payload, kid="#atproto_label")).did == ALICE
    assert keys.calls[-1] == (ALICE, "atproto_label", False)


def test_service_verifier_in_routes() -> None:
    clock = FakeClock(1_000_000)
    key, _, verifier = service_setup(clock)
    token = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    auth = authenticator(clock, service_auth=verifier)
    assert check(auth.service(), f"Bearer {token}") == ServiceCredentials(
        ALICE, ALICE, APPVIEW, NSID
    )
    assert refusal(auth.service(), None) == (401, "MissingJwt", "missing jwt")
    other = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    assert refusal(auth.service(), f"Bearer {other}", "app.bsky.feed.getFeed")[1] == (
        "BadJwtLexiconMethod"
    )
    loose = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    assert isinstance(
        check(auth.service(lxm_required=False), f"Bearer {loose}", "x.y.z"), ServiceCredentials
    )
    closed = authenticator(clock)
    assert refusal(closed.service(), f"Bearer {token}") == (
        401,
        "UntrustedIss",
        "service auth is not accepted here",
    )


def test_access_or_service() -> None:
    clock = FakeClock(1_000_000)
    key, _, verifier = service_setup(clock)
    auth = authenticator(clock, service_auth=verifier)
    either = auth.access_or_service()
    service_token = create_service_jwt(key, ALICE, APPVIEW, NSID, now=clock.now)
    assert isinstance(check(either, f"Bearer {service_token}"), ServiceCredentials)
    tokens = create_session_tokens(SECRET, PDS, ALICE, now=clock.now)
    assert check(either, f"Bearer {tokens.access_jwt}") == AccessCredentials(
        ALICE, AuthScope.ACCESS
    )
    assert refusal(either, "Bearer garbage") == INVALID
    assert refusal(either, None)[1] == "AuthMissing"
