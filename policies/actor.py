"""Who is calling: loaded from the database on every request, so that a deactivation, a
role change or a restriction applies to the very next request, not at token expiry."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuthSession, Membership, MembershipStatus, PermissionRestriction, Role, User
from models.db import plain_rows
from policies.scopes import cross_company


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    session_id: int
    membership_id: int | None
    company_id: int | None
    role: Role | None
    restricted: frozenset[str]
    is_operator: bool

    @property
    def domain(self) -> str:
        return f"company:{self.company_id}"


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
