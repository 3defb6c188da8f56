"""GraphQL over a WebSocket on /graphql (the graphql-transport-ws protocol): authentication in
`connection_init`, and the context that the connection's subscriptions share.

The client sends its bearer token (a person's access token or an API client's secret) in the
`connection_init` payload, as `{"Authorization": "Bearer <token>"}` (the key in any case). Without
one the connection is closed with 4401 (Unauthorized); with one that does not stand (forged, expired,
a revoked session or client, a deactivated member) with 4403 (Forbidden), the codes the protocol uses.

The connection is authenticated once, but the caller is re-loaded from the database at every batch of
changes and at a regular interval (resolvers/subscription.py): when they no longer stand the socket
is closed with 4403. The access token's own expiry does not end a subscription (its session decides,
as a refresh would); a revocation, a deactivation or a logout does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from typing import NoReturn

from graphql import GraphQLSyntaxError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.execution import PreExecutionError

from policies.actor import Actor
from resolvers.subscription import Watch
from schema.context import Context, parse_bearer

UNAUTHORIZED, FORBIDDEN = 4401, 4403


@dataclass
class SocketContext(Context):
    """The context of a WebSocket connection, shared by its operations (subscriptions only: they read in
    short sessions of their own, never through the request-scoped `reading()`)."""

    close_socket: Callable[[int, str], Awaitable[None]] | None = None

    def unloaded(self) -> Context:
        """The same caller with nothing loaded or cached yet (the underscored fields are the per-request
        caches), so that loading the actor reads the database again."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.init and not f.name.startswith("_")}
        return type(self)(**given)

    async def load_afresh(self, session: AsyncSession) -> Actor | None:
        caller = self.unloaded()
        try:
            return await caller.actor_in(session)
        finally:
            await caller.close()

    def watch(self) -> Watch:
        """The subscriber side of this connection's caller (resolvers/subscription.py)."""
        return Watch(self.services, self.load_afresh, self.client_address)

    async def end_connection(self) -> NoReturn:
        """Close the socket (4403: the caller no longer stands) and wait for the connection's shutdown to
        cancel this operation, so that nothing is sent on the closed socket."""
        if self.close_socket is not None:
            await self.close_socket(FORBIDDEN, "Forbidden")
        await asyncio.Event().wait()
        raise AssertionError("unreachable: the connection's shutdown cancels its operations")


def authorization(payload: dict) -> str | None:
    """The bearer token of a connection_init payload: its "Authorization" entry, the key in any case."""
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            return parse_bearer(value)
    return None


class SocketHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with authentication at connection_init."""

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.context.close()  # whatever the connection's operations left open (cancelled ones included)

    async def _send_result_stream(self, operation: Operation[Context, None], result_source: StreamResult) -> None:
        try:
            await super()._send_result_stream(operation, result_source)
        except GraphQLSyntaxError as error:
            # The ParserCache extension parses in its hook, which strawberry's stream() runs outside the
            # try that turns a syntax error into the protocol's answer (close with 4400) as execute() does.
            await self._handle_pre_execution_error(operation, PreExecutionError(data=None, errors=[error]))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        token = authorization(payload)
        if token is None:
            await self.websocket.close(code=UNAUTHORIZED, reason="Unauthorized")
            return
        placeholder = self.context
        assert isinstance(placeholder, SocketContext)
        context = SocketContext.for_bearer(placeholder.services, token, placeholder.client_address)
        assert isinstance(context, SocketContext)  # for_bearer builds the class it is called on
        async with context.services.db.read_sessions() as session:
            actor = await context.load_afresh(session)
        if actor is None:
            await self.websocket.close(code=FORBIDDEN, reason="Forbidden")
            return
        context.close_socket = self.websocket.close
        self.context = context
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
