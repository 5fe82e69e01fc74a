"""The directory's HTTP API, translating requests to :class:`strato.plc.directory.Directory`
calls and their answers back (the reference's routes: did-method-plc
``packages/server/src/routes.ts``):

- :mod:`.export`: ``GET /export``;
- :mod:`.dids`: ``POST /:did`` and ``GET /:did``, ``/:did/data``, ``/:did/log``,
  ``/:did/log/audit``, ``/:did/log/last``;
- :mod:`.common`: the ``{"message": ...}`` error and JSON bodies.
"""

from __future__ import annotations

from starlette.routing import Route

from strato.plc.directory import Directory
from strato.plc.routes import dids, export


def routes(directory: Directory) -> list[Route]:
    """Every API route, ``/export`` before the DID routes it would otherwise match."""
    return [*export.routes(directory), *dids.routes(directory)]
