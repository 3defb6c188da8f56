"""API clients: machine credentials of a company, created, listed, rotated and revoked by its administrators.

A secret is "prc_" and 256 random bits (secrets.token_urlsafe(32)); it is shown once, when it is
made, and stored as its SHA-256 digest only. Rotation adds a secret and gives the older one an
expiry (the overlap) so that an integration can switch without downtime; a client holds at most
two usable secrets, the newest and the one it replaced. Revocation stops the client at once: the
caller is read from the database on every request (policies.actor.load_client).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from models import ApiClient, ApiClientSecret, ApiScope, User
from models.api_client import SECRET_PREFIX
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_row, company_rows, cross_company
from resolvers.audit import audit
from resolvers.context import Services, UseCaseContext
from resolvers.pagination import Page, keyset_page
from resolvers.security import token_digest
from resolvers.validation import clean_text

SECRET_BYTES = 32  # 256 bits
HINT_LENGTH = len(SECRET_PREFIX) + 4  # "prc_Ab3x": tells secrets apart, gives away 24 of their 256 bits
DEFAULT_OVERLAP_HOURS = 24
MAX_OVERLAP_HOURS = 168  # a week
MAX_NAME_LENGTH = 100
# last_used_at is written at most once a minute per client: it says "in use", not a request log.
LAST_USE_PRECISION = timedelta(minutes=1)


@dataclass
class ClientView:
    """A client with what its list shows: who created it and its usable secrets (newest first)."""

    client: ApiClient
    created_by: User | None
    secrets: list[ApiClientSecret]


@dataclass
class IssuedSecret:
    """A client and a secret just made for it: the only time the secret is seen."""

    view: ClientView
    secret: str


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def secret_row(client_id: int, secret: str, *, now: datetime) -> ApiClientSecret:
    return ApiClientSecret(api_client_id=client_id, secret_hash=token_digest(secret), hint=secret[:HINT_LENGTH],
                           created_at=now)


def clean_scopes(scopes: list[ApiScope]) -> list[str]:
    if not scopes:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the client at least one scope", "scopes")
    return [scope.value for scope in ApiScope if scope in scopes]  # each once, in the enum's order


async def create_client(ctx: UseCaseContext, *, name: str, scopes: list[ApiScope]) -> IssuedSecret:
    actor = ctx.require(Permission.API_CLIENT_MANAGE)
    now = utcnow()
    client = ApiClient(company_id=actor.company_id, name=clean_text(name, "name", MAX_NAME_LENGTH),
                       scopes=clean_scopes(scopes), created_by_id=actor.person_id, created_at=now)
    ctx.session.add(client)
    await ctx.session.flush()
    secret = new_secret()
    ctx.session.add(secret_row(client.id, secret, now=now))
    await audit(ctx, "api_client", client.id, "create", after=_state(client))
    await ctx.session.flush()
    return IssuedSecret(await _view(ctx, actor, client), secret)


async def list_clients(ctx: UseCaseContext, *, first: int, after: int | None) -> Page[ClientView]:
    actor = ctx.require(Permission.API_CLIENT_MANAGE)
    page = await keyset_page(ctx.session, company_rows(ApiClient, actor), ApiClient.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)
    views = await _views(ctx, page.items)
    return Page(views, page.has_next_page, page.has_previous_page)


async def get_client(ctx: UseCaseContext, client_id: int) -> ClientView | None:
    actor = ctx.require(Permission.API_CLIENT_MANAGE)
    client = await company_row(ctx.session, ApiClient, client_id, actor)
    return (await _views(ctx, [client]))[0] if client else None


async def revoke_client(ctx: UseCaseContext, *, client_id: int) -> ClientView:
    """Revoked at once: the next request with any of its secrets, in any server process, is unauthenticated.
    Revoking a revoked client changes nothing (the first revocation's time stays)."""
    actor = ctx.require(Permission.API_CLIENT_MANAGE)
    client = await _client_for_update(ctx, actor, client_id)
    if client.revoked_at is None:
        before = _state(client)
        client.revoked_at = utcnow()
        await audit(ctx, "api_client", client.id, "revoke", before=before, after=_state(client))
        await ctx.session.flush()
    return await _view(ctx, actor, client)


async def rotate_secret(ctx: UseCaseContext, *, client_id: int, overlap_hours: int) -> IssuedSecret:
    """A new secret; the newest one before it stays usable for `overlap_hours` (0: stops now), any older
    one stops now, so that a client never holds more than two."""
    actor = ctx.require(Permission.API_CLIENT_MANAGE)
    if not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The overlap is 0 to {MAX_OVERLAP_HOURS} hours", "overlapHours")
    client = await _client_for_update(ctx, actor, client_id)
    if client.revoked_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "The client is revoked; create a new one", "id")
    now = utcnow()
    usable = await _usable_secrets(ctx, [client.id], now)
    ends = now + timedelta(hours=overlap_hours)
    for position, old in enumerate(usable):
        keep_until = ends if position == 0 else now
        if old.expires_at is None or old.expires_at > keep_until:
            old.expires_at = keep_until
    secret = new_secret()
    ctx.session.add(secret_row(client.id, secret, now=now))
    await audit(ctx, "api_client", client.id, "rotate_secret", after={"overlapHours": overlap_hours})
    await ctx.session.flush()
    return IssuedSecret(await _view(ctx, actor, client), secret)


async def _client_for_update(ctx: UseCaseContext, actor: Actor, client_id: int) -> ApiClient:
    """The company's client, locked against a concurrent rotation or revocation (PostgreSQL; SQLite's
    write transactions are serialized already)."""
    client = await ctx.session.scalar(
        company_rows(ApiClient, actor).where(ApiClient.id == client_id).with_for_update())
    if client is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such API client", "id")
    return client


async def _usable_secrets(ctx: UseCaseContext, client_ids: list[int], now: datetime) -> list[ApiClientSecret]:
    """Unexpired secrets of clients this request read through a scope, newest first."""
    rows = await ctx.session.scalars(
        select(ApiClientSecret)
        .where(ApiClientSecret.api_client_id.in_(client_ids),
               or_(ApiClientSecret.expires_at.is_(None), ApiClientSecret.expires_at > now))
        .order_by(ApiClientSecret.id.desc()))
    return list(rows)


async def _view(ctx: UseCaseContext, actor: Actor, client: ApiClient) -> ClientView:
    return (await _views(ctx, [client]))[0]


async def _views(ctx: UseCaseContext, clients: list[ApiClient]) -> list[ClientView]:
    """Views of a page of clients in two statements: their usable secrets, and their creators."""
    if not clients:
        return []
    secrets_of: dict[int, list[ApiClientSecret]] = {client.id: [] for client in clients}
    for secret in await _usable_secrets(ctx, list(secrets_of), utcnow()):
        secrets_of[secret.api_client_id].append(secret)
    creator_ids = {client.created_by_id for client in clients if client.created_by_id is not None}
    creators = {user.id: user for user in await ctx.session.scalars(select(User).where(User.id.in_(creator_ids)))} \
        if creator_ids else {}
    return [ClientView(client, creators.get(client.created_by_id or 0), secrets_of[client.id]) for client in clients]


def _state(client: ApiClient) -> dict:
    return {"name": client.name, "scopes": list(client.scopes),
            "revokedAt": client.revoked_at.isoformat() if client.revoked_at else None}


# --- last use ------------------------------------------------------------------------------------------------------

def last_use_is_stale(last_used_at: datetime | None) -> bool:
    return last_used_at is None or last_used_at <= utcnow() - LAST_USE_PRECISION


async def record_last_use(services: Services, client_id: int) -> None:
    """Record that a client was used, unless another request did within the minute (one conditional UPDATE
    in its own short transaction; the rate limit's charge records it itself)."""
    now = utcnow()
    statement = cross_company(
        update(ApiClient)
        .where(ApiClient.id == client_id,
               or_(ApiClient.last_used_at.is_(None), ApiClient.last_used_at <= now - LAST_USE_PRECISION))
        .values(last_used_at=now),
        "an API client records its own use")
    async with services.db.transaction() as session:
        await session.execute(statement)
