"""``app.bsky.actor.getPreferences`` / ``putPreferences`` over :mod:`strato.pds.preferences`.

A taken-down account may not put (401 ``AccountTakedown``, even with a token issued before
the takedown), and the verifier refuses the token of an account no longer hosted here (403
``AccountNotFound``); a put the preference rules refuse is 400 ``InvalidRequest``.
"""

from __future__ import annotations

from typing import Any

from strato.pds import preferences
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.auth import AccessCredentials, AuthScope
from strato.xrpc.types import actor as types


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the methods of this namespace to ``router``."""

    @router.method("app.bsky.actor.getPreferences", auth=ctx.auth.access())
    async def get_preferences(request: XrpcRequest[None, None]) -> types.GetPreferencesOutput:
        shown = preferences.get(ctx, requester(request), full=_full_access(request))
        return types.GetPreferencesOutput(preferences=shown)

    @router.method("app.bsky.actor.putPreferences", auth=ctx.auth.access(check_takedown=True))
    async def put_preferences(request: XrpcRequest[None, types.PutPreferencesInput]) -> None:
        given: list[dict[str, Any]] = request.input.preferences
        await preferences.put(ctx, requester(request), given, full=_full_access(request))


def _full_access(request: XrpcRequest[Any, Any]) -> bool:
    credentials = request.auth
    return isinstance(credentials, AccessCredentials) and credentials.scope is AuthScope.ACCESS
