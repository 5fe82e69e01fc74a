"""The did:plc operation flow of ``com.atproto.identity.*`` over HTTP, as an account moving
its identity uses it: recommended credentials, the emailed token, signing with the PDS's
rotation key, submitting an operation (which must keep this PDS), and every refusal with its
error and nothing written."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pds_identity_helpers import error_of, events_since, plc_data
from pds_net import PASSWORD, LocalPds
from strato.crypto import K256, PrivateKey
from strato.identity.plc import operation_cid, verify_operation_signature
from strato.pds.accounts import EmailTokenPurpose

RECOMMENDED = "com.atproto.identity.getRecommendedDidCredentials"
REQUEST = "com.atproto.identity.requestPlcOperationSignature"
SIGN = "com.atproto.identity.signPlcOperation"
SUBMIT = "com.atproto.identity.submitPlcOperation"


def request_token(pds: LocalPds, did: str, token: str, caplog: pytest.LogCaptureFixture) -> str:
    """Ask for the emailed code and read it from the log (no mail server here)."""
    with caplog.at_level(logging.INFO, logger="strato.pds.mailer"):
        caplog.clear()
        assert pds.xrpc(REQUEST, token=token, content=b"").status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if did in r.getMessage()]
    return line.rsplit(" ", 1)[1]


def test_recommended_credentials_are_the_current_plc_data(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    got = pds.xrpc(RECOMMENDED, token=session["accessJwt"]).json()
    data = plc_data(pds, session["did"])
    assert got == {
        "rotationKeys": data["rotationKeys"],
        "alsoKnownAs": data["alsoKnownAs"],
        "verificationMethods": data["verificationMethods"],
        "services": data["services"],
    }
    assert error_of(pds.xrpc(RECOMMENDED)) == (401, "AuthMissing")


def test_sign_and_submit_an_operation(pds: LocalPds, caplog: pytest.LogCaptureFixture) -> None:
    session = pds.create_account("alice.test", email="alice@example.com")
    did, token = session["did"], session["accessJwt"]
    code = request_token(pds, did, token, caplog)
    recovery = PrivateKey.generate(K256).public_key.did_key()
    current = plc_data(pds, did)
    rotation = [recovery, *current["rotationKeys"]]
    signed = pds.xrpc(SIGN, token=token, json={"token": code.lower(), "rotationKeys": rotation})
    assert signed.status_code == 200, signed.text
    operation: dict[str, Any] = signed.json()["operation"]
    assert operation["rotationKeys"] == rotation
    assert operation["alsoKnownAs"] == current["alsoKnownAs"]
    assert operation["services"] == current["services"]
    rotation_key = pds.ctx.keys.rotation_key().public_key.did_key()
    assert verify_operation_signature(operation, [rotation_key]) == 0
    # the code works once
    again = pds.xrpc(SIGN, token=token, json={"token": code})
    assert error_of(again) == (400, "InvalidToken")

    head = pds.ctx.sequencer.head()
    submitted = pds.xrpc(SUBMIT, token=token, json={"operation": operation})
    assert submitted.status_code == 200, submitted.text
    assert plc_data(pds, did)["rotationKeys"] == rotation
    assert [(kind, body["did"]) for kind, body in events_since(pds, head)] == [("#identity", did)]
    # the next signed operation follows the submitted one
    code = request_token(pds, did, token, caplog)
    following = pds.xrpc(SIGN, token=token, json={"token": code}).json()["operation"]
    assert following["prev"] == operation_cid(operation)


def test_requesting_a_token_needs_an_email_and_full_access(pds: LocalPds) -> None:
    session = pds.create_account("alice.test")
    response = pds.xrpc(REQUEST, token=session["accessJwt"], content=b"")
    assert error_of(response) == (400, "InvalidRequest")
    assert response.json()["message"] == "account does not have an email address"
    with_email = pds.create_account("bob.test", email="bob@example.com")
    app_password = pds.ctx.accounts.create_app_password(None, with_email["did"], "other").password
    login = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": "bob.test", "password": app_password},
    ).json()
    calls: list[tuple[str, dict[str, Any] | None]] = [
        (REQUEST, None),
        (SIGN, {"token": "AAAAA-BBBBB"}),
        (SUBMIT, {"operation": {}}),
    ]
    for method, body in calls:
        kwargs: dict[str, Any] = {"json": body} if body is not None else {"content": b""}
        got = pds.xrpc(method, token=login["accessJwt"], **kwargs)
        assert error_of(got) == (400, "InvalidToken"), method


def test_signing_needs_the_emailed_token(pds: LocalPds, caplog: pytest.LogCaptureFixture) -> None:
    session = pds.create_account("alice.test", email="alice@example.com")
    did, token = session["did"], session["accessJwt"]
    before = plc_data(pds, did)
    missing = pds.xrpc(SIGN, token=token, json={})
    assert error_of(missing) == (400, "InvalidRequest")
    assert missing.json()["message"] == "email confirmation token required to sign PLC operations"
    assert error_of(pds.xrpc(SIGN, token=token, json={"token": "AAAAA-BBBBB"})) == (
        400,
        "InvalidToken",
    )
    code = request_token(pds, did, token, caplog)
    # a malformed operation is refused and leaves the code usable
    bad = pds.xrpc(SIGN, token=token, json={"token": code, "services": {"atproto_pds": 5}})
    assert error_of(bad) == (400, "InvalidRequest")
    bad_keys = pds.xrpc(SIGN, token=token, json={"token": code, "rotationKeys": [5]})
    assert error_of(bad_keys) == (400, "InvalidRequest")
    pds.ctx.accounts.check_email_token(did, EmailTokenPurpose.PLC_OPERATION, code)
    assert plc_data(pds, did) == before


def _signed(pds: LocalPds, did: str, token: str, caplog: pytest.LogCaptureFixture,
            **changes: Any) -> dict[str, Any]:  # fmt: skip
    code = request_token(pds, did, token, caplog)
    response = pds.xrpc(SIGN, token=token, json={"token": code, **changes})
    assert response.status_code == 200, response.text
    operation: dict[str, Any] = response.json()["operation"]
    return operation


def test_submitted_operations_must_keep_this_pds(
    pds: LocalPds, caplog: pytest.LogCaptureFixture
) -> None:
    session = pds.create_account("alice.test", email="alice@example.com")
    did, token = session["did"], session["accessJwt"]
    data = plc_data(pds, did)
    other_key = PrivateKey.generate(K256).public_key.did_key()
    pds_service = data["services"]["atproto_pds"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"rotationKeys": [other_key]}, "Rotation keys do not include server's rotation key"),
        ({"services": {}}, "Missing atproto_pds service type"),
        ({"services": {"atproto_pds": {**pds_service, "type": "Other"}}},
         "Missing atproto_pds service type"),
        ({"services": {"atproto_pds": {**pds_service, "endpoint": "https://elsewhere.example"}}},
         "Incorrect endpoint on atproto_pds service"),
        ({"verificationMethods": {"atproto": other_key}}, "Incorrect signing key"),
        ({"alsoKnownAs": ["at://someone.else.test"]}, "Incorrect handle in alsoKnownAs"),
        ({"alsoKnownAs": []}, "Incorrect handle in alsoKnownAs"),
    ]  # fmt: skip
    head = pds.ctx.sequencer.head()
    for changes, message in cases:
        operation = _signed(pds, did, token, caplog, **changes)
        response = pds.xrpc(SUBMIT, token=token, json={"operation": operation})
        assert error_of(response) == (400, "InvalidRequest"), changes
        assert response.json()["message"] == message
    good = _signed(pds, did, token, caplog)
    for operation in [
        {**good, "sig": "x"},  # a bad signature: the directory refuses it
        {key: value for key, value in good.items() if key != "sig"},
        {"type": "plc_tombstone", "prev": good["prev"], "sig": good["sig"]},
        {"type": "nonsense"},
    ]:
        response = pds.xrpc(SUBMIT, token=token, json={"operation": operation})
        assert error_of(response) == (400, "InvalidRequest"), operation
    assert error_of(pds.xrpc(SUBMIT, token=token, json={"operation": "x"})) == (
        400,
        "InvalidRequest",
    )
    assert plc_data(pds, did) == data
    assert pds.ctx.sequencer.head() == head


def test_password_login_token_is_full_access(pds: LocalPds) -> None:
    pds.create_account("alice.test", email="alice@example.com")
    login = pds.xrpc(
        "com.atproto.server.createSession", json={"identifier": "alice.test", "password": PASSWORD}
    ).json()
    assert pds.xrpc(REQUEST, token=login["accessJwt"], content=b"").status_code == 200
