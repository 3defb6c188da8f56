"""Slowing down repeated failed sign-ins, per account name and per client address.

The keys are the typed email and the client address, not account ids, so the answer is
the same whether or not an account exists. Counters live in the database, so every server
process sees them. After `login_free_failures` failures (per account name; a larger number per address,
which an office may share) a key is locked for an interval
that doubles with each further failure, up to `login_lockout_max_seconds`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from resolvers.upsert import insert_for

from models import LoginThrottle
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.user import normalize_email
from resolvers.context import UseCaseContext

FAILURE_MEMORY = timedelta(hours=1)


def throttle_keys(email: str, client_address: str) -> list[str]:
    return [f"email:{normalize_email(email)}"[:400], f"ip:{client_address}"[:400]]


async def hold(ctx: UseCaseContext, keys: list[str]) -> datetime | None:
    """Lock the keys' counters (creating missing ones) until the transaction ends, and return
    until when they are locked out. Concurrent sign-ins for one account or address are thus
    checked and counted one after the other: a burst of guesses cannot all pass the check
    before the first failure is recorded, and two first failures cannot both insert a row."""
    now = utcnow()
    keys = sorted(keys)  # one lock order for every transaction: no deadlocks
    await ctx.session.execute(
        insert_for(ctx.session)(LoginThrottle)
        .values([{"key": key, "failures": 0, "last_failure_at": now} for key in keys])
        .on_conflict_do_nothing(index_elements=[LoginThrottle.key])
    )
    rows = (
        await ctx.session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(keys)).order_by(LoginThrottle.key)
            .with_for_update().execution_options(populate_existing=True)
        )
    ).all()
    until = [row.locked_until for row in rows if row.locked_until and row.locked_until > now]
    return max(until) if until else None


async def record_failure(ctx: UseCaseContext, keys: list[str]) -> None:
    settings, now = ctx.settings, utcnow()
    for key in keys:
        row = await ctx.session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            ctx.session.add(row)
        elif now - row.last_failure_at > FAILURE_MEMORY:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        free = settings.login_free_failures if key.startswith("email:") else settings.login_free_failures_per_address
        excess = row.failures - free
        if excess >= 0:
            seconds = min(settings.login_lockout_base_seconds * 2**excess, settings.login_lockout_max_seconds)
            row.locked_until = now + timedelta(seconds=seconds)
    await ctx.session.flush()


async def clear_account_failures(ctx: UseCaseContext, email: str) -> None:
    await ctx.session.execute(delete(LoginThrottle).where(LoginThrottle.key == throttle_keys(email, "")[0]))


TOO_MANY_ATTEMPTS = "Too many failed sign-ins; wait a moment and try again"


async def password_matches(ctx: UseCaseContext, user, password: str, field: str) -> bool:
    """A password check outside sign-in, throttled exactly like sign-in so it is no way around it:
    TOO_MANY_ATTEMPTS while the account or address is locked out; a wrong password counts as a
    failed sign-in (the caller raises its error with persist=True so the count is kept)."""
    keys = throttle_keys(user.email, ctx.client_address)
    if await hold(ctx, keys):
        raise DomainError(ErrorCode.TOO_MANY_ATTEMPTS, TOO_MANY_ATTEMPTS, field)
    if await ctx.services.passwords.verify(user.password_hash, password):
        return True
    await record_failure(ctx, keys)
    return False
