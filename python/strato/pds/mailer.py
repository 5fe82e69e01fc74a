"""The PDS's email: the codes that confirm an address, approve an address change, reset a
password, delete an account or sign a PLC operation.

With ``settings.smtp_url`` set (``smtp://user:pass@host:port``, or ``smtps://`` for TLS from
the first byte; user and password optional and percent-encoded), :class:`Mailer` sends each
message with the standard library's :mod:`smtplib` on a worker thread, upgrading an
``smtp://`` connection with STARTTLS when the server offers it. Without it, the code is logged
at INFO on the ``strato.pds.mailer`` logger, naming the account and the purpose (also as the
record's ``did``, ``handle``, ``purpose`` and ``token`` attributes): that line is the only
copy of the code, since the account store keeps only a keyed digest of it (``strato account
token`` issues a new code when the line is lost).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final
from urllib.parse import unquote, urlsplit

from strato.pds.accounts import EmailTokenPurpose
from strato.pds.settings import PdsSettings

logger = logging.getLogger("strato.pds.mailer")

_DEFAULT_PORTS: Final = {"smtp": 25, "smtps": 465}
#: How long one SMTP conversation may take before it is given up (seconds).
SMTP_TIMEOUT: Final = 30.0

_SUBJECTS: Final = {
    EmailTokenPurpose.CONFIRM_EMAIL: "Confirm your email address",
    EmailTokenPurpose.UPDATE_EMAIL: "Approve the change of your email address",
    EmailTokenPurpose.RESET_PASSWORD: "Reset your password",
    EmailTokenPurpose.DELETE_ACCOUNT: "Confirm the deletion of your account",
    EmailTokenPurpose.PLC_OPERATION: "Approve a change to your identity",
}
_ACTIONS: Final = {
    EmailTokenPurpose.CONFIRM_EMAIL: "confirm this email address",
    EmailTokenPurpose.UPDATE_EMAIL: "change the email address of your account",
    EmailTokenPurpose.RESET_PASSWORD: "reset your password",
    EmailTokenPurpose.DELETE_ACCOUNT: "delete your account for good",
    EmailTokenPurpose.PLC_OPERATION: "sign a change to your DID (PLC operation)",
}


class MailError(Exception):
    """A message could not be handed to the SMTP server."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail goes: host, port, whether TLS starts at once, and the login if any."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """The server an ``smtp://`` or ``smtps://`` URL names; ValueError otherwise."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise ValueError(f"not an smtp:// or smtps:// URL: {url!r}")
        if not parts.hostname:
            raise ValueError(f"the SMTP URL names no host: {url!r}")
        return cls(
            host=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            implicit_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class Mailer:
    """Sends the PDS's emailed codes by SMTP (``server``), or logs them when there is none."""

    def __init__(self, server: SmtpServer | None, sender: str) -> None:
        self.server = server
        self.sender = sender

    @classmethod
    def from_settings(cls, settings: PdsSettings) -> Mailer:
        server = None if settings.smtp_url is None else SmtpServer.parse(settings.smtp_url)
        return cls(server, settings.email_from)

    async def send_token(
        self, purpose: EmailTokenPurpose, token: str, *, did: str, handle: str, to: str
    ) -> None:
        """Deliver ``token`` for ``purpose`` to the account's address ``to``;
        :class:`MailError` when the SMTP server cannot be reached or refuses the message."""
        if self.server is None:
            logger.info(
                "email code for %s (%s), %s: %s", handle, did, purpose, token,
                extra={"did": did, "handle": handle, "purpose": str(purpose), "token": token},
            )  # fmt: skip
            return
        message = self._message(purpose, token, handle=handle, to=to)
        try:
            await asyncio.to_thread(_deliver, self.server, message)
        except (smtplib.SMTPException, OSError) as err:
            logger.warning("could not send the %s email of %s: %s", purpose, did, err)
            raise MailError(f"could not send email: {err}") from err

    def _message(
        self, purpose: EmailTokenPurpose, token: str, *, handle: str, to: str
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = _SUBJECTS[purpose]
        message.set_content(
            f"Hello {handle},\n\n"
            f"To {_ACTIONS[purpose]}, enter this code where you asked for it:\n\n"
            f"    {token}\n\n"
            "The code is valid for 15 minutes. If you did not ask for it, ignore this email.\n"
        )
        return message


def _deliver(server: SmtpServer, message: EmailMessage) -> None:
    client: smtplib.SMTP
    if server.implicit_tls:
        context = ssl.create_default_context()
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=SMTP_TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT)
    with client:
        client.ehlo()
        if not server.implicit_tls and client.has_extn("starttls"):
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if server.username is not None:
            client.login(server.username, server.password or "")
        client.send_message(message)
