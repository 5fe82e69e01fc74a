"""Helpers for the ``com.atproto.server.*`` tests over HTTP: logging in, asserting an XRPC
error, reading an emailed code from the mailer's log, and a snapshot of what the store holds
for an account (to show a refused request wrote nothing)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from pds_net import PASSWORD, LocalPds
from strato.errors import AccountNotFoundError
from strato.firehose import decode_frame
from strato.pds.accounts import ACCOUNT_TABLES, EmailTokenPurpose
from strato.pds.keys import KEY_TABLES


def login(pds: LocalPds, identifier: str, password: str = PASSWORD) -> dict[str, Any]:
    """A session (createSession's answer) for ``identifier``."""
    response = pds.xrpc(
        "com.atproto.server.createSession",
        json={"identifier": identifier, "password": password},
    )
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def app_password_login(
    pds: LocalPds, session: dict[str, Any], *, name: str = "app", privileged: bool = False
) -> str:
    """The access token of a login with a new app password of ``session``'s account."""
    created = pds.xrpc(
        "com.atproto.server.createAppPassword", token=session["accessJwt"],
        json={"name": name, "privileged": privileged},
    )  # fmt: skip
    assert created.status_code == 200, created.text
    token: str = login(pds, session["handle"], created.json()["password"])["accessJwt"]
    return token


def post(pds: LocalPds, nsid: str, token: str | None = None) -> httpx.Response:
    """POST to a procedure that takes no input."""
    return pds.xrpc(nsid, token=token, content=b"")


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    """The response is the XRPC error ``error`` with HTTP ``status``."""
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text


def record_mail(caplog: pytest.LogCaptureFixture) -> None:
    """Have ``caplog`` record the mailer's INFO lines (the codes, with no SMTP server)."""
    caplog.set_level(logging.INFO, logger="strato.pds.mailer")


def emailed_token(caplog: pytest.LogCaptureFixture, did: str, purpose: EmailTokenPurpose) -> str:
    """The last code the mailer logged for ``did`` and ``purpose``."""
    found = [
        record.__dict__["token"]
        for record in caplog.records
        if record.name == "strato.pds.mailer"
        and record.__dict__.get("did") == did
        and record.__dict__.get("purpose") == purpose
    ]
    assert found, f"no {purpose} code was logged for {did}"
    token: str = found[-1]
    return token


def events_since(pds: LocalPds, seq: int) -> list[tuple[str | None, dict[str, Any]]]:
    """The firehose events after ``seq``: (type, body) pairs."""
    frames = [decode_frame(event.frame) for event in pds.ctx.sequencer.events_after(seq)]
    return [(frame.t, frame.body) for frame in frames]


def snapshot(pds: LocalPds, did: str) -> tuple[Any, ...]:
    """The account row, its app passwords, the sequencer head and the size of every account,
    key and repository table."""
    ctx = pds.ctx
    with ctx.store.read() as txn:
        sizes = {
            table: txn.count(table) for table in (*ACCOUNT_TABLES, *KEY_TABLES, *ctx.repos.tables)
        }
    try:
        account = ctx.accounts.get(did)
    except AccountNotFoundError:
        return None, None, ctx.sequencer.head(), sizes
    return account, ctx.accounts.list_app_passwords(did), ctx.sequencer.head(), sizes
