"""The relay's admin page: ``/admin/``, one HTML file shipped in the package
(``strato/relay/static/admin.html``, no external assets) whose script calls the admin XRPC
methods with the token given in the URL fragment (``/admin/#token=...``, never sent to the
server in a URL) or typed in its form, and shows charts of the last ten minutes (events in,
verified and sent per second, drops per second by reason, lag per host: inline SVG drawn by the
page from ``getStatsHistory``), hosts (status, cursor, accounts and limit, events in, rate,
lag), drops by reason, domain bans and consumers, with buttons to ban and
unban hosts and domains and to take accounts down and back. The page itself needs no token: it
holds no data until its calls are authorized; asking for one, it names the relay's admin token
file (``--admin-token-file``), where the operator finds it.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

PAGE: Final = "admin.html"
#: Where the page says where the token is.
TOKEN_FILE_SLOT: Final = "<!--token-file-->"
#: No framing, no third-party anything: the page talks to this relay only.
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def page_html(token_file: Path | None) -> str:
    """The page, saying where the admin token is: ``token_file`` on the relay's machine (None:
    the relay has no admin token, so no call can be authorized)."""
    page = (resources.files("strato.relay") / "static" / PAGE).read_text(encoding="utf-8")
    if token_file is None:
        where = "This relay has no admin token (start it with --admin-token-file FILE)."
    else:
        where = f"The token is in {token_file} on the relay's machine (--admin-token-file)."
    return page.replace(TOKEN_FILE_SLOT, html.escape(where))


def routes(token_file: Path | None) -> list[Route]:
    text = page_html(token_file)

    async def page(request: Request) -> Response:
        return HTMLResponse(text, headers=HEADERS)

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/admin/", status_code=308)

    return [
        Route("/admin/", page, methods=["GET", "HEAD"]),
        Route("/admin", redirect, methods=["GET", "HEAD"]),
    ]
