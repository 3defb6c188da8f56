"""Who is calling: loaded from the database on every request, so that a deactivation, a
role change, a restriction, or an API client's revocation or secret expiry applies to the very
next request, not at token expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import BindParameter, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuthSession, Membership, MembershipStatus, PermissionRestriction, Role, User
from models.api_client import ApiClient, ApiClientSecret, ApiScope
from models.base import utcnow
from models.db import plain_rows
from policies.errors import NotAPerson
from policies.scopes import cross_company


@dataclass(frozen=True, slots=True)
class Actor:
    """A person signed in with an access token, or an API client presenting its secret.

    A person has `user_id` and `session_id` (and a membership unless an operator outside companies).
    An API client has neither: `user_id`, `session_id` and `membership_id` are None, `api_client_id`
    names it, `company_id` is its company and `scopes` are its roles in the policy
    ("scope:orders_read"); it has no role and no restrictions."""

    user_id: int | None
    session_id: int | None
    membership_id: int | None
    company_id: int | None
    role: Role | None
    restricted: frozenset[str]
    is_operator: bool
    api_client_id: int | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def domain(self) -> str:
        return f"company:{self.company_id}"

    @property
    def is_api_client(self) -> bool:
        return self.api_client_id is not None

    @property
    def person_id(self) -> int:
        """The person behind the call; an API client is none, and is refused (FORBIDDEN) here."""
        if self.user_id is None:
            raise NotAPerson()
        return self.user_id

    @property
    def auth_session_id(self) -> int:
        """The sign-in session of the call; an API client has none, and is refused (FORBIDDEN) here."""
        if self.session_id is None:
            raise NotAPerson()
        return self.session_id


def _restrictions_column(dialect: str):
    """The member's restrictions as one comma-separated value, so one statement loads the actor."""
    aggregate = func.string_agg if dialect == "postgresql" else func.group_concat
    return (
        select(aggregate(PermissionRestriction.permission, ","))
        .where(PermissionRestriction.membership_id == Membership.id)
        .scalar_subquery()
    )


@cache
def _actor_statement(dialect: str):
    statement = (
        select(
            User.is_operator, AuthSession.revoked_at, AuthSession.membership_id.label("session_membership_id"),
            Membership.company_id, Membership.role, Membership.status,
            _restrictions_column(dialect).label("restricted"),
        )
        .select_from(AuthSession)
        .join(User, User.id == AuthSession.user_id)
        .outerjoin(Membership, and_(Membership.id == bindparam("membership_id"), Membership.user_id == User.id))
        .where(AuthSession.id == bindparam("session_id"), AuthSession.user_id == bindparam("user_id"))
    )
    return cross_company(statement, "who is calling: the membership that their verified token names")


async def load_actor(
    session: AsyncSession, *, user_id: int, session_id: int, membership_id: int | None
) -> Actor | None:
    """The actor behind a verified access token, or None when it no longer stands."""
    statement = _actor_statement(session.get_bind().dialect.name)
    rows = await plain_rows(session, statement, {"user_id": user_id, "session_id": session_id,
                                                 "membership_id": membership_id})
    row = rows[0] if rows else None
    if row is None or row.revoked_at is not None or row.session_membership_id != membership_id:
        return None  # revoked, or the session has switched company since this token was issued
    if membership_id is None:
        return Actor(user_id, session_id, None, None, None, frozenset(), True) if row.is_operator else None
    if row.status != MembershipStatus.ACTIVE.value:
        return None
    restricted = frozenset(row.restricted.split(",")) if row.restricted else frozenset()
    return Actor(user_id, session_id, membership_id, row.company_id, Role(row.role), restricted, row.is_operator)


# --- API clients ---------------------------------------------------------------------------------------------------

def client_actor(client_id: int, company_id: int, scopes: list[str] | None) -> Actor:
    """The actor of an API client: its company, and its scopes as policy roles (a scope this version
    no longer knows grants nothing)."""
    known = {scope.value: scope.policy_role for scope in ApiScope}
    roles = frozenset(known[scope] for scope in scopes or () if scope in known)
    return Actor(None, None, None, company_id, None, frozenset(), False, client_id, roles)


def usable_secret(digest: str | BindParameter, now: datetime | BindParameter):
    """The client id of an unexpired secret with this digest, as a scalar subquery (the client's own
    revocation is checked on the client row)."""
    return (
        select(ApiClientSecret.api_client_id)
        .where(ApiClientSecret.secret_hash == digest,
               or_(ApiClientSecret.expires_at.is_(None), ApiClientSecret.expires_at > now))
        .scalar_subquery()
    )


async def load_client(session: AsyncSession, digest: str) -> tuple[Actor, datetime | None] | None:
    """The actor of the API client whose secret has this SHA-256 digest, and when it was last used;
    None when no client has it, the secret expired or the client was revoked. One statement."""
    statement = cross_company(
        select(ApiClient.id, ApiClient.company_id, ApiClient.scopes, ApiClient.last_used_at)
        .where(ApiClient.id == usable_secret(digest, utcnow()), ApiClient.revoked_at.is_(None)),
        "who is calling: the API client whose secret was presented")
    rows = await plain_rows(session, statement)
    if not rows:
        return None
    row = rows[0]
    return client_actor(row.id, row.company_id, row.scopes), row.last_used_at
