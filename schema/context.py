"""The per-request GraphQL context: services, the verified token, and database access.

A bearer token is either a person's access token (a JWT) or an API client's secret ("prc_...");
`Context.for_bearer` is the one entry point for both, over HTTP and WebSocket alike.

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
from starlette.responses import Response

from models.api_client import SECRET_PREFIX
from policies.actor import Actor, load_actor, load_client
from resolvers.api_client import last_use_is_stale, record_last_use
from resolvers.context import Services, UseCaseContext
from resolvers.security import AccessClaims, token_digest


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
    # The SHA-256 digest of an API client's secret (a bearer token starting with "prc_"); the
    # secret itself is not kept.
    client_secret_digest: str | None = None
    # The HTTP response being built (its status and headers), when there is one.
    response: Response | None = None
    _read_session: AsyncSession | None = None
    _read_actor: tuple[Actor | None] | None = None
    _client: tuple[Actor | None] | None = None  # the API client, once loaded in this request
    _touch_client_id: int | None = None  # an API client whose last use is to be recorded
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def for_bearer(
        cls, services: Services, token: str | None, client_address: str, request: Request | None = None,
        response: Response | None = None,
    ) -> Context:
        """The context of a caller who presents `token` (an access token, an API client's secret or
        None), for an HTTP request or a WebSocket connection (its connection_init payload). Nothing
        is read here: the caller is loaded from the database on first use, like every request's."""
        if token and token.startswith(SECRET_PREFIX):
            return cls(services=services, request=request, claims=None, client_address=client_address,
                       client_secret_digest=token_digest(token), response=response)
        claims = services.tokens.decode(token) if token else None
        return cls(services=services, request=request, claims=claims, client_address=client_address,
                   response=response)

    @classmethod
    def for_request(cls, services: Services, request: Request, response: Response | None = None) -> Context:
        address = request.client.host if request.client else "unknown"
        return cls.for_bearer(services, bearer_token(request), address, request, response)

    @property
    def is_api_client(self) -> bool:
        """Whether the caller presents an API client's secret (valid or not)."""
        return self.client_secret_digest is not None

    def use_client(self, actor: Actor | None) -> None:
        """The API client of this request, as the rate limit's charge loaded it (schema.rate_limit)."""
        self._client = (actor,)

    async def actor_in(self, session: AsyncSession) -> Actor | None:
        if self.client_secret_digest is not None:
            if self._client is None:
                loaded = await load_client(session, self.client_secret_digest)
                self._client = (loaded[0] if loaded else None,)
                if loaded and last_use_is_stale(loaded[1]):
                    # Recorded when the operation ends (close), outside any transaction of this request.
                    self._touch_client_id = loaded[0].api_client_id
            return self._client[0]
        if self.claims is None:
            return None
        return await load_actor(
            session, user_id=self.claims.user_id, session_id=self.claims.session_id,
            membership_id=self.claims.membership_id,
        )

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """Exclusive use of the request's read session alone (the rate limit's charge runs on it on PostgreSQL,
        where it is in autocommit: one connection and one round trip for the request's first statement)."""
        async with self._lock:
            if self._read_session is None:
                self._read_session = self.services.db.read_sessions()
            yield self._read_session

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
        if self._touch_client_id is not None:
            client_id, self._touch_client_id = self._touch_client_id, None
            await record_last_use(self.services, client_id)
