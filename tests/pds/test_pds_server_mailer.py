"""The mailer with a real SMTP server on 127.0.0.1 (``smtp_sink``): the PDS emails its codes
there, logging in with the URL's credentials, and a code that arrives by mail works; a server
that refuses the login or is not there makes the request fail with 500 and sends nothing. And
how SMTP URLs are read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pds_net import local_network
from pds_server_helpers import assert_error, post
from smtp_sink import SmtpSink
from strato.pds.mailer import SmtpServer


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink(login=("pds user", "s3cret:pw"))
    yield server
    server.close()


def test_codes_go_by_mail(tmp_path: Path, sink: SmtpSink) -> None:
    url = f"smtp://pds%20user:s3cret%3Apw@127.0.0.1:{sink.port}"
    with local_network(tmp_path, smtp_url=url, email_from="pds@example.com") as pds:
        alice = pds.create_account("alice.test", email="alice@example.com")
        token = alice["accessJwt"]
        assert post(pds, "com.atproto.server.requestEmailConfirmation", token).status_code == 200
        assert len(sink.received) == 1
        mail = sink.received[0]
        assert (mail.sender, mail.recipients) == ("pds@example.com", ["alice@example.com"])
        assert mail.message["Subject"] == "Confirm your email address"
        body = mail.message.get_content()
        assert "alice.test" in body
        code = next(word for word in body.split() if len(word) == 11 and word[5] == "-")
        confirmed = pds.xrpc(
            "com.atproto.server.confirmEmail", token=token,
            json={"email": "alice@example.com", "token": code},
        )  # fmt: skip
        assert confirmed.status_code == 200, confirmed.text
        reset = pds.xrpc(
            "com.atproto.server.requestPasswordReset", json={"email": "alice@example.com"}
        )
        assert reset.status_code == 200, reset.text
        assert sink.received[1].message["Subject"] == "Reset your password"


def test_a_refused_login_fails_the_request(tmp_path: Path, sink: SmtpSink) -> None:
    url = f"smtp://pds%20user:wrong@127.0.0.1:{sink.port}"
    with local_network(tmp_path, smtp_url=url) as pds:
        alice = pds.create_account("alice.test", email="alice@example.com")
        response = post(pds, "com.atproto.server.requestEmailConfirmation", alice["accessJwt"])
        assert_error(response, 500, "InternalServerError")
    assert sink.received == []


def test_no_server_there_fails_the_request(tmp_path: Path) -> None:
    closed = SmtpSink()
    port = closed.port
    closed.close()
    with local_network(tmp_path, smtp_url=f"smtp://127.0.0.1:{port}") as pds:
        alice = pds.create_account("alice.test", email="alice@example.com")
        response = post(pds, "com.atproto.server.requestAccountDelete", alice["accessJwt"])
        assert_error(response, 500, "InternalServerError")


def test_smtp_urls() -> None:
    assert SmtpServer.parse("smtps://mail.example.com") == SmtpServer(
        "mail.example.com", 465, True, None, None
    )
    assert SmtpServer.parse("smtp://a%40b:p%2Fw@mail.example.com:2525") == SmtpServer(
        "mail.example.com", 2525, False, "a@b", "p/w"
    )
    for bad in ("http://mail.example.com", "smtp://", "mail.example.com"):
        with pytest.raises(ValueError, match=r"SMTP URL|smtp://"):
            SmtpServer.parse(bad)
