"""The email methods over HTTP with no SMTP server (the codes go to the log): confirming an
address, changing it (a code once the address is confirmed), and a password reset (which ends
every session). Wrong, used and expired codes, wrong sessions and missing fields each get
their error and change nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pds_net import PASSWORD, LocalPds, local_network
from pds_server_helpers import (
    app_password_login,
    assert_error,
    emailed_token,
    login,
    post,
    record_mail,
    snapshot,
)
from strato.pds.accounts import EmailTokenPurpose

CONFIRM = EmailTokenPurpose.CONFIRM_EMAIL
UPDATE = EmailTokenPurpose.UPDATE_EMAIL
RESET = EmailTokenPurpose.RESET_PASSWORD


def test_confirm_then_change_the_address(pds: LocalPds, caplog: pytest.LogCaptureFixture) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    did, token = alice["did"], alice["accessJwt"]
    # unconfirmed: a change needs no code
    update = post(pds, "com.atproto.server.requestEmailUpdate", token)
    assert update.json() == {"tokenRequired": False}
    assert post(pds, "com.atproto.server.requestEmailConfirmation", token).status_code == 200
    code = emailed_token(caplog, did, CONFIRM)
    confirmed = pds.xrpc(
        "com.atproto.server.confirmEmail", token=token,
        json={"email": "Alice@Example.com", "token": code.lower()},
    )  # fmt: skip
    assert confirmed.status_code == 200, confirmed.text
    me = pds.xrpc("com.atproto.server.getSession", token=token).json()
    assert me["emailConfirmed"] is True

    # confirmed: a change needs the code sent to the current address
    update = post(pds, "com.atproto.server.requestEmailUpdate", token)
    assert update.json() == {"tokenRequired": True}
    code = emailed_token(caplog, did, UPDATE)
    before = snapshot(pds, did)
    missing = pds.xrpc(
        "com.atproto.server.updateEmail", token=token, json={"email": "new@example.com"}
    )
    assert_error(missing, 400, "TokenRequired")
    wrong = pds.xrpc(
        "com.atproto.server.updateEmail", token=token,
        json={"email": "new@example.com", "token": "AAAAA-AAAAA"},
    )  # fmt: skip
    assert_error(wrong, 400, "InvalidToken")
    assert snapshot(pds, did) == before
    changed = pds.xrpc(
        "com.atproto.server.updateEmail", token=token,
        json={"email": "New@Example.com", "token": code},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    account = pds.ctx.accounts.get(did)
    assert account.email == "new@example.com"
    assert account.email_confirmed_at is None
    # the old address no longer names the account; the new one does
    assert login(pds, "new@example.com")["did"] == did
    assert_error(
        pds.xrpc("com.atproto.server.requestPasswordReset", json={"email": "alice@example.com"}),
        400, "InvalidRequest",
    )  # fmt: skip


def test_email_changes_that_are_refused(pds: LocalPds, caplog: pytest.LogCaptureFixture) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    pds.create_account("bob.test", email="bob@example.com")
    carol = pds.create_account("carol.test")
    did, token = alice["did"], alice["accessJwt"]
    app_token = app_password_login(pds, alice, privileged=True)
    post(pds, "com.atproto.server.requestEmailConfirmation", token)
    code = emailed_token(caplog, did, CONFIRM)
    before = snapshot(pds, did)
    update = "com.atproto.server.updateEmail"
    confirm = "com.atproto.server.confirmEmail"
    cases = [
        (update, token, {"email": "bob@example.com"}, 400, "InvalidRequest"),  # taken
        (update, token, {"email": "not an address"}, 400, "InvalidRequest"),
        (update, token, {}, 400, "InvalidRequest"),
        (update, app_token, {"email": "x@example.com"}, 400, "InvalidToken"),  # full access only
        (update, None, {"email": "x@example.com"}, 401, "AuthMissing"),
        (confirm, token, {"email": "other@example.com", "token": code}, 400, "InvalidEmail"),
        (confirm, token, {"email": "alice@example.com", "token": "AAAAA-AAAAA"}, 400,
         "InvalidToken"),
        (confirm, token, {"email": "alice@example.com"}, 400, "InvalidRequest"),
    ]  # fmt: skip
    for nsid, bearer, body, status, error in cases:
        assert_error(pds.xrpc(nsid, token=bearer, json=body), status, error)
    assert snapshot(pds, did) == before
    # an account with no address has nothing to confirm or change
    carol_before = snapshot(pds, carol["did"])
    for nsid in ("requestEmailConfirmation", "requestEmailUpdate"):
        refused = post(pds, f"com.atproto.server.{nsid}", carol["accessJwt"])
        assert_error(refused, 400, "InvalidRequest")
    assert snapshot(pds, carol["did"]) == carol_before
    # an app password may confirm the address
    confirmed = pds.xrpc(confirm, token=app_token, json={"email": "alice@example.com",
                                                          "token": code})  # fmt: skip
    assert confirmed.status_code == 200, confirmed.text
    # a used code is spent
    again = pds.xrpc(confirm, token=token, json={"email": "alice@example.com", "token": code})
    assert_error(again, 400, "InvalidToken")


def test_an_expired_confirmation_code(
    pds: LocalPds, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    post(pds, "com.atproto.server.requestEmailConfirmation", alice["accessJwt"])
    code = emailed_token(caplog, alice["did"], CONFIRM)
    later = time.time() + 16 * 60
    monkeypatch.setattr(pds.ctx.accounts, "_clock", lambda: later)
    before = snapshot(pds, alice["did"])
    expired = pds.xrpc(
        "com.atproto.server.confirmEmail", token=alice["accessJwt"],
        json={"email": "alice@example.com", "token": code},
    )  # fmt: skip
    assert_error(expired, 400, "ExpiredToken")
    assert snapshot(pds, alice["did"]) == before


def test_password_reset(pds: LocalPds, caplog: pytest.LogCaptureFixture) -> None:
    record_mail(caplog)
    alice = pds.create_account("alice.test", email="alice@example.com")
    did = alice["did"]
    asked = pds.xrpc("com.atproto.server.requestPasswordReset", json={"email": "ALICE@example.com"})
    assert asked.status_code == 200, asked.text
    code = emailed_token(caplog, did, RESET)
    before = snapshot(pds, did)
    for body, error in [
        ({"token": "AAAAA-AAAAA", "password": "new password"}, "InvalidToken"),
        ({"token": code, "password": ""}, "InvalidRequest"),
        ({"token": code, "password": "x" * 257}, "InvalidRequest"),
        ({"token": code}, "InvalidRequest"),
    ]:
        response = pds.xrpc("com.atproto.server.resetPassword", json=body)
        assert_error(response, 400, error)
    assert snapshot(pds, did) == before
    unknown = pds.xrpc(
        "com.atproto.server.requestPasswordReset", json={"email": "nobody@example.com"}
    )
    assert_error(unknown, 400, "InvalidRequest")
    assert snapshot(pds, did) == before

    reset = pds.xrpc(
        "com.atproto.server.resetPassword", json={"token": code, "password": "new password"}
    )
    assert reset.status_code == 200, reset.text
    # every session ended; the old password is refused, the new one works
    refresh = post(pds, "com.atproto.server.refreshSession", alice["refreshJwt"])
    assert_error(refresh, 400, "ExpiredToken")
    old = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": PASSWORD},
    )
    assert_error(old, 401, "AuthenticationRequired")
    assert login(pds, "alice.test", "new password")["did"] == did
    spent = pds.xrpc(
        "com.atproto.server.resetPassword", json={"token": code, "password": "another one"}
    )
    assert_error(spent, 400, "InvalidToken")


def test_asking_for_codes_is_rate_limited_per_account(tmp_path: Path) -> None:
    with local_network(tmp_path, rate_limits=True) as pds:
        alice = pds.create_account("alice.test", email="alice@example.com")
        bob = pds.create_account("bob.test", email="bob@example.com")
        confirm = "com.atproto.server.requestEmailConfirmation"
        for _ in range(5):
            assert post(pds, confirm, alice["accessJwt"]).status_code == 200
        assert_error(post(pds, confirm, alice["accessJwt"]), 429, "RateLimitExceeded")
        # another account, and another method, have their own counts
        assert post(pds, confirm, bob["accessJwt"]).status_code == 200
        update = post(pds, "com.atproto.server.requestEmailUpdate", alice["accessJwt"])
        assert update.status_code == 200, update.text
