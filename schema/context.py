"""The per-request GraphQL context: services, the verified token, and database access.

Strawberry resolves sibling fields concurrently, and one AsyncSession must never be used
by two coroutines at once, so every read of a request goes through one lock-guarded
session. Each mutation gets its own write transaction (see schema.errors.run_mutation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from policies.actor import Actor, load_actor
from resolvers.context import Services, UseCaseContext
from resolvers.security import AccessClaims


def parse_bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None for anything else."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def bearer_token(request: Request) -> str | None:
    return parse_bearer(request.headers.get("authorization"))


@dataclass
class Context:
    services: Services
    request: Request | None
    claims: AccessClaims | None
    client_address: str
    _read_session: AsyncSession | None = None
    _read_actor: tuple[Actor | None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def for_bearer(
        cls, services: Services, token: str | None, client_address: str, request: Request | None = None
    ) -> Context:
        """The context of a caller who presents `token` (an access token, an API client's secret or
        None), for an HTTP request or a WebSocket connection (its connection_init payload). Nothing
        is read here: the caller is loaded from the database on first use, like every request's."""
        claims = services.tokens.decode(token) if token else None
        return cls(services=services, request=request, claims=claims, client_address=client_address)

    @classmethod
    def for_request(cls, services: Services, request: Request) -> Context:
        address = request.client.host if request.client else "unknown"
        return cls.for_bearer(services, bearer_token(request), address, request)

    async def actor_in(self, session: AsyncSession) -> Actor | None:
        if self.claims is None:
            return None
        return await load_actor(
            session, user_id=self.claims.user_id, session_id=self.claims.session_id,
            membership_id=self.claims.membership_id,
        )

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[UseCaseContext]:
        """Exclusive use of the request's read session, with the actor loaded once."""
        async with self._lock:
            if self._read_session is None:
                self._read_session = self.services.db.read_sessions()
            if self._read_actor is None:
                self._read_actor = (await self.actor_in(self._read_session),)
            yield UseCaseContext(
                services=self.services, session=self._read_session, actor=self._read_actor[0],
                client_address=self.client_address,
            )

    async def close(self) -> None:
        if self._read_session is not None:
            await self._read_session.close()
            self._read_session = None
