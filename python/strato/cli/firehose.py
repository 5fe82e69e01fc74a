"""The ``strato firehose tail`` command: print a ``subscribeRepos`` stream (a relay's or a
PDS's) as JSON lines. Registered on the main parser by :mod:`strato.cli.main`, which prints errors.

Command::

    strato firehose tail URL [--cursor N] [--blocks] [--reconnect]

Each event is one line, flushed as it arrives: ``{"type": "#commit", "seq": ..., ...}``, the
message's fields in the atproto JSON form (bytes as ``{"$bytes": base64}``, links as
``{"$link": cid}``), ``type`` from the frame header. A ``#commit`` or ``#sync``'s ``blocks``
(a CAR of up to 2 MB) is summarized by default: the field is left out and ``blocksSize`` gives
its length in bytes; with ``--blocks`` it is printed whole, as ``$bytes``. An error frame from
the server (``FutureCursor``, ``ConsumerTooSlow``...) ends the command with status 1 and one
line on stderr; so does a connection that fails, drops or is closed by the server (unless
``--reconnect``). Ctrl-C ends
it with status 0, as does a reader that goes away (``| head``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from strato.dagcbor import to_json
from strato.errors import EventStreamError, FrameError
from strato.firehose import SUBSCRIBE_REPOS_PATH, Frame, StreamClient

SCHEMES: Final = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


class TailError(ValueError):
    """A stream that could not be read (its message is printed after ``strato: error:``)."""


def add_firehose_commands(groups: Any) -> None:
    """``strato firehose tail``."""
    firehose = groups.add_parser(
        "firehose",
        help="read an event stream (subscribeRepos)",
        description="Read the com.atproto.sync.subscribeRepos event stream of a relay or PDS.",
    )
    commands = firehose.add_subparsers(dest="command", required=True, metavar="{tail}")
    tail = commands.add_parser(
        "tail",
        help="print each event as one JSON line",
        description=(
            "Print every event of a subscribeRepos stream as one JSON line, flushed as it "
            'arrives: {"type": "#commit", "seq": N, ...} with the event\'s fields in the '
            'atproto JSON form (bytes as {"$bytes": "<base64>"}, links as {"$link": "<CID>"}). '
            "The blocks of #commit and #sync events (a CAR) are left out and their size given "
            "as blocksSize, unless --blocks. Without --cursor the stream starts at the live "
            "head. An error frame from the server (FutureCursor, ConsumerTooSlow...), a "
            "failed connection or one the server closes prints one line on stderr and exits "
            "with 1; Ctrl-C, or a "
            "reader that stops (| head), exits with 0."
        ),
    )
    tail.add_argument(
        "url",
        metavar="URL",
        help="the server: http(s)://host[:port] or ws(s)://host[:port] (the subscribeRepos "
        "path is added), or the full subscribeRepos URL",
    )
    tail.add_argument(
        "--cursor",
        type=_cursor,
        metavar="N",
        help="replay the events after seq N first (0: the whole retained log), then go live",
    )
    tail.add_argument(
        "--blocks",
        action="store_true",
        help='print the blocks (CAR bytes) of #commit and #sync events whole, as {"$bytes"}',
    )
    tail.add_argument(
        "--reconnect",
        action="store_true",
        help="after a dropped connection (or ConsumerTooSlow), connect again after a backoff, "
        "resuming after the last seq printed; other error frames still end the command",
    )
    tail.set_defaults(handler=cmd_firehose_tail)


def _cursor(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a seq (an integer >= 0)")
    return int(text)


def stream_url(url: str) -> str:
    """The ``subscribeRepos`` WebSocket URL of ``url`` (a base URL, or the full URL)."""
    parts = urlsplit(url.strip())
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise TailError(f"{url!r} is not an http(s):// or ws(s):// URL")
    if parts.path.rstrip("/") not in ("", SUBSCRIBE_REPOS_PATH):
        raise TailError(f"{url!r}: the path must be empty or {SUBSCRIBE_REPOS_PATH}")
    return urlunsplit((scheme, parts.netloc, SUBSCRIBE_REPOS_PATH, parts.query, ""))


def event_json(frame: Frame, *, blocks: bool = False) -> dict[str, Any]:
    """One event as the JSON object ``tail`` prints."""
    body = dict(frame.body)
    summary: dict[str, Any] = {}
    if not blocks and isinstance(body.get("blocks"), bytes):
        summary["blocksSize"] = len(body.pop("blocks"))
    fields = to_json(body)
    first = {"seq": fields.pop("seq")} if "seq" in fields else {}
    return {"type": frame.t, **first, **fields, **summary}


def cmd_firehose_tail(args: argparse.Namespace) -> int:
    url = stream_url(args.url)
    cursor = args.cursor
    if cursor is None:
        # a cursor given in the URL is kept (the client replaces it only when one is set)
        found = dict(parse_qsl(urlsplit(url).query)).get("cursor")
        cursor = _cursor_from_url(found) if found is not None else None
    client = StreamClient(url, cursor=cursor, reconnect=args.reconnect)
    try:
        asyncio.run(_tail(client, blocks=args.blocks))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        _silence_stdout()
        return 0
    return 0


def _cursor_from_url(text: str) -> int:
    try:
        return _cursor(text)
    except argparse.ArgumentTypeError as err:
        raise TailError(f"cursor in the URL: {err}") from None


async def _tail(client: StreamClient, *, blocks: bool) -> None:
    out = sys.stdout.buffer
    url = _without_cursor(client.url)
    try:
        async with contextlib.aclosing(client.frames()) as frames:
            async for frame in frames:
                line = json.dumps(event_json(frame, blocks=blocks), ensure_ascii=False)
                out.write(line.encode("utf-8") + b"\n")
                out.flush()
    except InvalidStatus as err:
        status = err.response.status_code
        raise TailError(f"{url} answered HTTP {status}, not a WebSocket") from None
    except InvalidURI as err:
        raise TailError(str(err)) from None
    except EventStreamError as err:
        raise TailError(f"{url} ended the stream with {err}") from None
    except FrameError as err:
        raise TailError(f"bad frame from {url}: {err}") from None
    except ConnectionClosed as err:
        if err.rcvd is None:
            raise TailError(f"lost the connection to {url}") from None
        reason = f": {err.rcvd.reason}" if err.rcvd.reason else ""
        raise TailError(f"{url} closed the stream (code {err.rcvd.code}{reason})") from None
    except (WebSocketException, OSError, TimeoutError) as err:
        if isinstance(err, BrokenPipeError):
            raise
        raise TailError(f"connection to {url} failed: {err or type(err).__name__}") from None
    raise TailError(f"{url} closed the stream")


def _without_cursor(url: str) -> str:
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "cursor"])
    return urlunsplit(parts._replace(query=query))


def _silence_stdout() -> None:
    """Point stdout at /dev/null once its reader went away, so the final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


__all__ = ["add_firehose_commands", "event_json", "stream_url"]
