"""A minimal SMTP server on 127.0.0.1 for the mailer tests: it speaks enough of RFC 5321
(EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for :mod:`smtplib`, checks the
login against the one it was given, and keeps every message it accepts. It runs on its own
event loop in a thread."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

Reply = Callable[[str], Awaitable[None]]


@dataclass
class Received:
    """One accepted message: the envelope and the parsed message."""

    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class _Session:
    authenticated: bool = False
    sender: str = ""
    recipients: list[str] = field(default_factory=list)


class SmtpSink:
    """The server; ``login`` is the (user, password) it accepts (None: no AUTH offered)."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.login = login
        self.received: list[Received] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session()

        async def reply(text: str) -> None:
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        await reply("220 sink ESMTP")
        try:
            while line := await reader.readline():
                verb, _, arg = line.decode().rstrip("\r\n").partition(" ")
                if not await self._command(verb.upper(), arg, session, reader, reply):
                    break
        finally:
            writer.close()

    async def _command(self, verb: str, arg: str, session: _Session,
                       reader: asyncio.StreamReader, reply: Reply) -> bool:  # fmt: skip
        if verb == "EHLO":
            extensions = ["250-sink", "250-8BITMIME"]
            if self.login is not None:
                extensions.append("250-AUTH PLAIN")
            await reply("\r\n".join([*extensions, "250 SMTPUTF8"]))
        elif verb == "AUTH":
            await reply(self._auth(arg, session))
        elif verb in ("MAIL", "RCPT") and self.login is not None and not session.authenticated:
            await reply("530 authentication required")
        elif verb == "MAIL":
            session.sender, session.recipients = _address(arg), []
            await reply("250 ok")
        elif verb == "RCPT":
            session.recipients.append(_address(arg))
            await reply("250 ok")
        elif verb == "DATA":
            await reply("354 go on")
            data = await _read_data(reader)
            parsed = message_from_bytes(data, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.received.append(Received(session.sender, session.recipients, parsed))
            await reply("250 queued")
        elif verb == "QUIT":
            await reply("221 bye")
            return False
        elif verb in ("HELO", "RSET", "NOOP"):
            await reply("250 ok")
        else:
            await reply("502 not implemented")
        return True

    def _auth(self, arg: str, session: _Session) -> str:
        mechanism, _, initial = arg.partition(" ")
        if self.login is None or mechanism.upper() != "PLAIN":
            return "504 unsupported"
        _, user, password = base64.b64decode(initial).decode().split("\x00")
        if (user, password) != self.login:
            return "535 bad credentials"
        session.authenticated = True
        return "235 ok"


def _address(arg: str) -> str:
    return arg.partition(":")[2].strip().split(" ")[0].strip("<>")


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    lines = []
    while (line := await reader.readline()) not in (b".\r\n", b""):
        lines.append(line[1:] if line.startswith(b"..") else line)
    return b"".join(lines)
