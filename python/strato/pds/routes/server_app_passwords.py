"""App passwords (``com.atproto.server.createAppPassword``, ``listAppPasswords``,
``revokeAppPassword``), with the reference's auth: creating one takes a full-access session
(never an app password's) of an account not taken down; listing and revoking take any session
but a taken-down account's. Revoking ends the sessions opened with it (their refresh tokens; an
access token already issued lives out its two hours, as in the reference); the changes are
:mod:`strato.pds.sessions`'."""

from __future__ import annotations

from strato.pds import sessions
from strato.pds.context import PdsContext
from strato.pds.routes.common import requester
from strato.pds.routes.server_shared import iso_from_ms
from strato.xrpc import XrpcRequest, XrpcRouter
from strato.xrpc.auth import ACCESS_FULL, ACCESS_STANDARD
from strato.xrpc.types import server as types


def register(router: XrpcRouter, ctx: PdsContext) -> None:
    """Add the app-password methods to ``router``."""

    @router.method(
        "com.atproto.server.createAppPassword",
        auth=ctx.auth.access(ACCESS_FULL, check_takedown=True),
    )
    async def create_app_password(
        request: XrpcRequest[None, types.CreateAppPasswordInput],
    ) -> types.CreatedAppPassword:
        body = request.input
        created = await sessions.create_app_password(
            ctx, requester(request), body.name, privileged=body.privileged is True
        )
        return types.CreatedAppPassword(
            name=created.name, password=created.password,
            created_at=iso_from_ms(created.created_at), privileged=created.privileged,
        )  # fmt: skip

    @router.method("com.atproto.server.listAppPasswords", auth=ctx.auth.access(ACCESS_STANDARD))
    async def list_app_passwords(
        request: XrpcRequest[None, None],
    ) -> types.ListAppPasswordsOutput:
        found = ctx.accounts.list_app_passwords(requester(request))
        return types.ListAppPasswordsOutput(
            passwords=[
                types.ListedAppPassword(
                    name=item.name,
                    created_at=iso_from_ms(item.created_at),
                    privileged=item.privileged,
                )
                for item in found
            ]
        )

    @router.method("com.atproto.server.revokeAppPassword", auth=ctx.auth.access(ACCESS_STANDARD))
    async def revoke_app_password(request: XrpcRequest[None, types.RevokeAppPasswordInput]) -> None:
        await sessions.revoke_app_password(ctx, requester(request), request.input.name)
