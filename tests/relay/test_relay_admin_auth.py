"""The relay's admin password over real HTTP: accepted as Bearer and as Basic ``admin:``,
anything else (missing, wrong, another user, malformed, another scheme) a 401 on every admin
XRPC method and every reference admin path; a relay without a password has no admin access."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pds_net import run_plc
from relay_admin_net import NS, TOKEN, AdminNet, admin_net, basic, bearer
from relay_net import run_relay
from starlette.requests import Request
from strato.relay import admin_types as relay_admin
from strato.relay.admin_auth import is_admin, presented_token
from strato.relay.routes.admin_paths import AdminPaths

ADMIN_METHODS = sorted(relay_admin.METHODS)
PATHS = [
    ("POST", "/admin/pds/requestCrawl"), ("GET", "/admin/pds/list"),
    ("POST", "/admin/pds/changeLimits"), ("POST", "/admin/pds/block"),
    ("POST", "/admin/pds/unblock"), ("POST", "/admin/repo/takeDown"),
    ("POST", "/admin/repo/reverseTakedown"), ("GET", "/admin/repo/takedowns"),
    ("POST", "/admin/subs/banDomain"), ("POST", "/admin/subs/unbanDomain"),
    ("GET", "/admin/subs/listDomainBans"), ("GET", "/admin/subs/getUpstreamConns"),
    ("POST", "/admin/subs/killUpstream"), ("GET", "/admin/subs/getEnabled"),
    ("POST", "/admin/subs/setEnabled"), ("GET", "/admin/subs/perDayLimit"),
    ("POST", "/admin/subs/setPerDayLimit"), ("GET", "/admin/consumers/list"),
]  # fmt: skip
REFUSED = {
    "missing": {},
    "wrong bearer": bearer("not-the-password-at-all"),
    "wrong basic": basic("not-the-password-at-all"),
    "another user": basic(TOKEN, user="root"),
    "bearer with nothing": {"Authorization": "Bearer"},
    "basic not base64": {"Authorization": "Basic !!!not-base64!!!"},
    "basic without colon": {"Authorization": "Basic YWRtaW4="},
    "another scheme": {"Authorization": f"Token {TOKEN}"},
    "three parts": {"Authorization": f"Bearer {TOKEN} extra"},
}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminNet]:
    with admin_net(tmp_path_factory.mktemp("admin-auth")) as net:
        yield net


def nsid_call(net: AdminNet, nsid: str, headers: dict[str, str]) -> httpx.Response:
    kind = relay_admin.METHODS[nsid].kind
    with httpx.Client(base_url=net.relay.url, timeout=30.0) as client:
        if kind == "query":  # well-formed params: the router checks them before the password
            params = {"did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"} if nsid.endswith("Account") else {}
            return client.get(f"/xrpc/{nsid}", headers=headers, params=params)
        return client.post(f"/xrpc/{nsid}", headers=headers, json={})


def test_every_path_goat_calls_is_served() -> None:
    assert len(PATHS) == len({path for _, path in PATHS})
    handlers = {name for name in vars(AdminPaths) if not name.startswith("_")}
    assert len(handlers) == len(PATHS)


@pytest.mark.parametrize("nsid", ADMIN_METHODS)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_admin_methods_refuse_without_the_password(net: AdminNet, nsid: str, case: str) -> None:
    answer = nsid_call(net, nsid, REFUSED[case])
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "AuthenticationRequired"
    assert "www-authenticate" not in answer.headers  # no browser prompt over the admin page


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_admin_paths_refuse_without_the_password(
    net: AdminNet, method: str, path: str, case: str
) -> None:
    answer = net.path(method, path, headers=REFUSED[case])
    assert answer.status_code == 401, answer.text
    assert answer.json() == {"error": "Unauthorized"}
    assert answer.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("headers", [bearer(), basic()], ids=["bearer", "basic"])
def test_the_password_is_taken_as_bearer_and_as_basic(
    net: AdminNet, headers: dict[str, str]
) -> None:
    assert net.call("getCrawlEnabled", headers=headers).json() == {"enabled": True}
    answer = net.path("GET", "/admin/subs/getEnabled", headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"enabled": True})


def test_a_relay_without_a_password_has_no_admin_access(tmp_path: Path) -> None:
    with run_plc(tmp_path / "plc") as plc_url, run_relay(tmp_path / "relay", plc_url) as relay:
        answer = relay.xrpc(NS + "getCrawlEnabled", headers=bearer())
        assert (answer.status_code, answer.json()["error"]) == (401, "AuthenticationRequired")
        with httpx.Client(base_url=relay.url) as client:
            refused = client.get("/admin/subs/getEnabled", headers=basic())
        assert refused.status_code == 401


def test_basic_credentials_that_are_not_ascii_are_refused() -> None:
    # The header as a fuzz/ py_jws crash had it: bytes past ASCII after "Basic ".
    header = b"Basic YWRtaW46YWRtaW4t@cGFzvcmQtMDEyMEyMw=\xcf\xcf\xcf\xcf\xcf\xcf="
    request = Request({"type": "http", "headers": [(b"authorization", header)]})
    assert presented_token(request) is None
    assert not is_admin(request, TOKEN)
