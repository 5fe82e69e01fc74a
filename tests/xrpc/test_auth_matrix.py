"""The auth matrix: every XRPC method of the PDS and of the relay (their method tables, read
when the tests are collected, so a new method is in it the day it is added) and the relay's
``/admin/`` paths, against every credential each must refuse, each answer with its status and
error name; one running PLC directory, PDS and relay for the module.

What a method accepts is what its verifier declares (:class:`strato.xrpc.auth.Verifier`); for
each kind of credential it accepts:

- none: 401 ``AuthMissing`` (session tokens), ``MissingJwt`` (service tokens),
  ``AuthenticationRequired`` (the admin password); optional auth lets the request through;
- a bearer token that is no token (its header nested 2,000 deep): 400 ``InvalidToken`` where
  session tokens are accepted, else 401 ``BadJwt`` (service tokens) or
  ``AuthenticationRequired`` (the admin password);
- an access token: expired 400 ``ExpiredToken``; for another audience, a refresh token, an app
  password where the scopes leave it out (the privileged methods) or a privileged one where
  they want full access: 400 ``InvalidToken``; a taken-down account's 401 ``AccountTakedown``
  where the verifier checks it (let through elsewhere); a deleted account's 403
  ``AccountNotFound``; another account's, on a method naming a ``repo``: 401
  ``AuthenticationRequired``;
- a refresh token: expired (unless accepted) 400 ``ExpiredToken``; another audience or an
  access token 400 ``InvalidToken``; taken down 401 ``AccountTakedown`` where checked, deleted
  403 ``AccountNotFound``;
- a service token: expired 401 ``JwtExpired``, another audience 401 ``BadJwtAudience``, another
  method 401 ``BadJwtLexiconMethod``; where the verifier checks the issuer's account, taken
  down 401 ``AccountTakedown`` and deleted 403 ``AccountNotFound``;
- the admin password: a wrong one, one that is not base64 text, or a user's token, 401
  ``AuthenticationRequired``.

Two policies keep a new method honest: it is public only when listed in :data:`PUBLIC`, and a
procedure an account's token authenticates refuses a taken-down account unless listed in
:data:`TAKENDOWN_MAY` (as the reference: what a taken-down account needs to migrate away or
manage its account).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest
from matrix_net import (
    ADMIN,
    ELSEWHERE,
    MatrixNet,
    basic,
    bearer,
    matrix_net,
    sample,
    tables,
)
from strato.xrpc.auth import AuthScope, Verifier, unauthenticated
from strato.xrpc.jws import b64url_encode
from strato.xrpc.method import RawInput
from strato.xrpc.router import XrpcMethod

#: The methods anyone may call, on purpose (the reference's public methods).
PUBLIC: Final = frozenset({
    "com.atproto.identity.resolveDid", "com.atproto.identity.resolveHandle",
    "com.atproto.identity.resolveIdentity", "com.atproto.repo.describeRepo",
    "com.atproto.repo.getRecord", "com.atproto.repo.listRecords",
    "com.atproto.server.createSession", "com.atproto.server.deleteAccount",
    "com.atproto.server.describeServer", "com.atproto.server.requestPasswordReset",
    "com.atproto.server.reserveSigningKey", "com.atproto.server.resetPassword",
    "com.atproto.sync.getHostStatus", "com.atproto.sync.getLatestCommit",
    "com.atproto.sync.getRepo", "com.atproto.sync.getRepoStatus", "com.atproto.sync.listHosts",
    "com.atproto.sync.listRepos", "com.atproto.sync.listReposByCollection",
    "com.atproto.sync.requestCrawl",
})  # fmt: skip
#: Procedures a taken-down account may still call with a token it holds (the reference's:
#: account management, and what migrating away takes).
TAKENDOWN_MAY: Final = frozenset({
    "com.atproto.server.activateAccount", "com.atproto.server.deactivateAccount",
    "com.atproto.server.revokeAppPassword", "com.atproto.server.deleteSession",
    "com.atproto.identity.requestPlcOperationSignature",
    "com.atproto.identity.signPlcOperation", "com.atproto.identity.submitPlcOperation",
    "com.atproto.identity.refreshIdentity",
})  # fmt: skip
#: What a refusal by a verifier is named (a request let through gets none of these from auth).
AUTH_ERRORS: Final = frozenset({
    "AuthMissing", "AuthenticationRequired", "InvalidToken", "ExpiredToken", "MissingJwt",
    "JwtExpired", "BadJwt", "BadJwtAudience", "BadJwtLexiconMethod", "BadJwtSignature",
    "AccountTakedown", "AccountNotFound", "AccountDeactivated",
})  # fmt: skip
HOUR: Final = 3600.0
#: Basic credentials that are not base64 text (bytes past ASCII in the header).
NOT_BASE64: Final = httpx.Headers([(b"authorization", b"Basic \xff\xfe")])
#: A bearer token whose header nests deep enough to exhaust a JSON decoder's stack.
DEEP_TOKEN: Final = ".".join(
    b64url_encode(part)
    for part in (b'{"alg":"HS256","x":' + b"[" * 2000 + b"]" * 2000 + b"}", b"{}", b"x")
)
#: A refusal: (status, error name); None: let through by auth.
Expected = tuple[int, str] | None


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixNet]:
    with matrix_net(tmp_path_factory.mktemp("auth-matrix")) as running:
        yield running


@dataclass(frozen=True)
class Case:
    """A credential to present (``headers``), the body to send (None: the method's sample)
    and the answer expected."""

    name: str
    headers: Mapping[str, str] | httpx.Headers
    expected: Expected
    body: dict[str, Any] | None = None


def anonymous_answer(verifier: Verifier) -> Expected:
    if verifier.optional:
        return None
    if verifier.accepts & {"access", "refresh"}:
        return (401, "AuthMissing")
    if "service" in verifier.accepts:
        return (401, "MissingJwt")
    return (401, "AuthenticationRequired")


def malformed_answer(verifier: Verifier) -> Expected:
    """A bearer token that is no token (its header nests past the data model's depth)."""
    if verifier.accepts & {"access", "refresh"}:
        return (400, "InvalidToken")
    if "service" in verifier.accepts:
        return (401, "BadJwt")
    return (401, "AuthenticationRequired")


def access_cases(net: MatrixNet, method: XrpcMethod, verifier: Verifier) -> list[Case]:
    alice, scopes = net.alice, verifier.scopes
    invalid = (400, "InvalidToken")
    cases = [
        Case("expired access token", bearer(net.session_token(alice.did, age=3 * HOUR)),
             (400, "ExpiredToken")),
        Case("access token for another audience",
             bearer(net.session_token(alice.did, aud=ELSEWHERE)), invalid),
        Case("refresh token as access", bearer(alice.refresh), invalid),
        Case("taken-down account", bearer(net.carol.access),
             (401, "AccountTakedown") if "takendown" in verifier.refused else None),
        Case("deleted account", bearer(net.dave.access), (403, "AccountNotFound")),
    ]  # fmt: skip
    if AuthScope.APP_PASS not in scopes:
        cases.append(Case("app password on a privileged method", bearer(net.app_password),
                          invalid))  # fmt: skip
    if AuthScope.APP_PASS_PRIVILEGED not in scopes:
        cases.append(Case("privileged app password on a full-access method",
                          bearer(net.privileged_app_password), invalid))  # fmt: skip
    if method.types.input is not None and "repo" in _fields(method.types.input):
        body = sample(method.types.input, alice.did)
        cases.append(Case("another account's token on the repository", bearer(net.bob.access),
                          (401, "AuthenticationRequired"), body))  # fmt: skip
    return cases


def refresh_cases(net: MatrixNet, verifier: Verifier) -> list[Case]:
    alice = net.alice
    expired = net.refresh_token(alice.did, age=91 * 24 * HOUR)
    return [
        Case("expired refresh token", bearer(expired),
             None if verifier.expired else (400, "ExpiredToken")),
        Case("refresh token for another audience",
             bearer(net.refresh_token(alice.did, aud=ELSEWHERE)), (400, "InvalidToken")),
        Case("access token as refresh", bearer(alice.access), (400, "InvalidToken")),
        Case("taken-down account", bearer(net.carol.refresh),
             (401, "AccountTakedown") if "takendown" in verifier.refused else None),
        Case("deleted account", bearer(net.dave.refresh), (403, "AccountNotFound")),
    ]  # fmt: skip


def service_cases(net: MatrixNet, nsid: str, verifier: Verifier) -> list[Case]:
    alice = net.alice
    cases = [
        Case("expired service token", bearer(net.service_token(alice, nsid, expired=True)),
             (401, "JwtExpired")),
        Case("service token for another audience",
             bearer(net.service_token(alice, nsid, aud=ELSEWHERE)), (401, "BadJwtAudience")),
        Case("service token for another method",
             bearer(net.service_token(alice, "com.example.other")),
             (401, "BadJwtLexiconMethod")),
    ]  # fmt: skip
    if "access" in verifier.accepts:  # the issuer is one of this PDS's accounts
        cases += [
            Case("service token of a taken-down account",
                 bearer(net.service_token(net.carol, nsid)),
                 (401, "AccountTakedown") if "takendown" in verifier.refused else None),
            Case("service token of a deleted account", bearer(net.service_token(net.dave, nsid)),
                 (403, "AccountNotFound")),
        ]  # fmt: skip
    return cases


def admin_cases(net: MatrixNet) -> list[Case]:
    refused = (401, "AuthenticationRequired")
    return [
        Case("wrong admin password", basic("not-the-" + ADMIN), refused),
        Case("an admin password that is not base64 text", NOT_BASE64, refused),
        Case("a user's token on an admin method", bearer(net.alice.access), refused),
    ]


def cases_for(net: MatrixNet, nsid: str, method: XrpcMethod) -> list[Case]:
    verifier = method.auth
    assert isinstance(verifier, Verifier), f"{nsid}: its verifier declares nothing"
    accepts = verifier.accepts
    cases = [
        Case("no credentials", {}, anonymous_answer(verifier)),
        Case("a token nested too deep", bearer(DEEP_TOKEN), malformed_answer(verifier)),
    ]
    if "access" in accepts:
        cases += access_cases(net, method, verifier)
    if "refresh" in accepts:
        cases += refresh_cases(net, verifier)
    if "service" in accepts:
        cases += service_cases(net, nsid, verifier)
    if accepts == {"admin"}:
        cases += admin_cases(net)
    elif "admin" in accepts:  # optional admin beside a session token
        cases.append(Case("wrong admin password", basic("wrong"), (401, "AuthenticationRequired")))
    return cases


def send(
    client: httpx.Client, nsid: str, method: XrpcMethod, alice: str, case: Case
) -> httpx.Response:
    types = method.types
    url = f"/xrpc/{nsid}"
    headers = httpx.Headers(case.headers)  # raw bytes kept as they are
    if types.kind == "query":
        return client.get(url, params=sample(types.params, alice), headers=headers)
    if isinstance(types.input, RawInput):
        kind = "application/octet-stream" if "*" in types.input.encoding else types.input.encoding
        headers["content-type"] = kind
        return client.post(url, content=b"x", headers=headers)
    if types.input is None:
        return client.post(url, content=b"", headers=headers)
    return client.post(url, json=case.body or {}, headers=headers)


def mismatch(case: Case, response: httpx.Response) -> str | None:
    """Why ``response`` is not the answer ``case`` expects (None when it is)."""
    body = response.json() if response.headers.get("content-type") == "application/json" else {}
    error = body.get("error") if isinstance(body, dict) else None
    got = f"{response.status_code} {error}: {body.get('message') if error else ''}"
    if response.status_code >= 500:
        return f"{case.name}: a server error ({got})"
    if case.expected is None:
        return f"{case.name}: refused by auth ({got})" if error in AUTH_ERRORS else None
    if (response.status_code, error) != case.expected:
        return f"{case.name}: expected {case.expected}, got {got}"
    return None


def _fields(struct: Any) -> set[str]:
    return {name for name in getattr(struct, "__struct_encode_fields__", ())}


def check(net: MatrixNet, url: str, nsid: str, method: XrpcMethod) -> None:
    if method.auth is unauthenticated:
        assert nsid in PUBLIC, f"{nsid} takes no credentials: list it in PUBLIC if it is public"
        return
    client = net.client(url)
    found = [
        problem
        for case in cases_for(net, nsid, method)
        if (problem := mismatch(case, send(client, nsid, method, net.alice.did, case)))
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("server", "nsid"), tables().params())
def test_method(net: MatrixNet, server: str, nsid: str) -> None:
    check(net, net.url(server), nsid, tables().method(server, nsid))


@pytest.mark.parametrize(("method", "path"), tables().relay_admin_paths)
def test_relay_admin_path(net: MatrixNet, method: str, path: str) -> None:
    """The reference's ``/admin/`` paths answer its own 401 (with the Basic challenge)."""
    client = net.client(net.relay.url)
    for headers in ({}, basic("not-the-" + ADMIN), NOT_BASE64, bearer(net.alice.access)):
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json() == {"error": "Unauthorized"}
        assert answer.headers["www-authenticate"] == 'Basic realm="admin"'


@pytest.mark.parametrize("nsid", sorted(tables().pds))
def test_writes_refuse_a_taken_down_account(nsid: str) -> None:
    """A procedure an account's token authenticates checks for a takedown in its verifier
    (so no body is read first), unless a taken-down account may call it."""
    method = tables().pds[nsid]
    verifier = method.auth
    if method.types.kind != "procedure" or not isinstance(verifier, Verifier):
        return
    if verifier.accepts & {"access", "refresh"} and nsid not in TAKENDOWN_MAY:
        assert "takendown" in verifier.refused, f"{nsid} lets a taken-down account write"


def test_app_passwords_get_no_service_token_for_privileged_methods(net: MatrixNet) -> None:
    """getServiceAuth mints no token for a privileged method (direct messages) to a session of
    a standard app password, as the reference restricts it."""
    client = net.client(net.pds.url)
    params = {"aud": ELSEWHERE, "lxm": "chat.bsky.convo.sendMessage"}
    nsid = "/xrpc/com.atproto.server.getServiceAuth"
    refused = client.get(nsid, params=params, headers=bearer(net.app_password))
    assert refused.status_code == 400
    assert refused.json()["error"] == "InvalidRequest"
    assert "insufficient access" in refused.json()["message"]
    allowed = client.get(nsid, params=params, headers=bearer(net.privileged_app_password))
    assert allowed.status_code == 200, allowed.text
