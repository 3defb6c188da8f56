"""Slowing down repeated attempts: failed sign-ins and password-reset requests, each counted per
typed email and per client address.

The keys are the typed email and the client address, not account ids, so the answer is the
same whether or not an account exists. Counters live in the database, so every server process
sees them. After a kind's free attempts (fewer per email than per address, which an office may
share) a key is locked for an interval that doubles with each further attempt, up to
`login_lockout_max_seconds`. A count is forgotten after FAILURE_MEMORY without attempts; a row
whose count is forgotten and whose lock-out is over is deleted by the next attempt of anyone
(PRUNE_BATCH at a time), so typed-in addresses do not pile up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from models import LoginThrottle
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.user import normalize_email
from resolvers.context import UseCaseContext
from resolvers.upsert import insert_for
from settings import Settings

FAILURE_MEMORY = timedelta(hours=1)
PRUNE_BATCH = 200
TOO_MANY_ATTEMPTS = "Too many failed sign-ins; wait a moment and try again"
TOO_MANY_RESETS = "Too many password reset requests; wait a moment and try again"

# Free attempts of each kind of key, by its prefix.
FREE_ATTEMPTS = {
    "email": lambda settings: settings.login_free_failures,
    "ip": lambda settings: settings.login_free_failures_per_address,
    "reset-email": lambda settings: settings.password_reset_free_requests,
    "reset-ip": lambda settings: settings.password_reset_free_requests_per_address,
}


def _key(kind: str, value: str) -> str:
    return f"{kind}:{value}"[:400]


def throttle_keys(email: str, client_address: str) -> list[str]:
    """The keys of a sign-in (or another password check) by this email from this address."""
    return [_key("email", normalize_email(email)), _key("ip", client_address)]


def reset_keys(email: str, client_address: str) -> list[str]:
    """The keys of a password-reset request for this email from this address."""
    return [_key("reset-email", normalize_email(email)), _key("reset-ip", client_address)]


def free_attempts(settings: Settings, key: str) -> int:
    return FREE_ATTEMPTS[key.split(":", 1)[0]](settings)


async def hold(ctx: UseCaseContext, keys: list[str]) -> datetime | None:
    """Lock the keys' counters (creating missing ones) until the transaction ends, and return
    until when they are locked out. Concurrent attempts on one key are thus checked and counted
    one after the other: a burst of guesses cannot all pass the check before the first one is
    counted, and two first attempts cannot both insert a row.

    The upsert takes the row lock even when the row exists (a plain ON CONFLICT DO NOTHING would
    not), so a concurrent prune cannot delete a row between this check and its count."""
    now = utcnow()
    await prune(ctx, now)
    keys = sorted(keys)  # one lock order for every transaction: no deadlocks
    insert = insert_for(ctx.session)(LoginThrottle).values(
        [{"key": key, "failures": 0, "last_failure_at": now, "expires_at": now} for key in keys]
    )
    await ctx.session.execute(
        insert.on_conflict_do_update(index_elements=[LoginThrottle.key], set_={"failures": LoginThrottle.failures})
    )
    rows = (
        await ctx.session.scalars(
            select(LoginThrottle).where(LoginThrottle.key.in_(keys)).order_by(LoginThrottle.key)
            .with_for_update().execution_options(populate_existing=True)
        )
    ).all()
    until = [row.locked_until for row in rows if row.locked_until and row.locked_until > now]
    return max(until) if until else None


async def prune(ctx: UseCaseContext, now: datetime) -> None:
    """Delete up to PRUNE_BATCH rows that no longer matter; rows another transaction holds are
    skipped (on PostgreSQL; SQLite runs one writer at a time), so pruning never waits."""
    expired = (
        select(LoginThrottle.key).where(LoginThrottle.expires_at <= now)
        .limit(PRUNE_BATCH).with_for_update(skip_locked=True)
    )
    await ctx.session.execute(
        delete(LoginThrottle).where(LoginThrottle.key.in_(expired)).execution_options(synchronize_session=False)
    )


async def record_failure(ctx: UseCaseContext, keys: list[str]) -> None:
    """Count one attempt against each key held by `hold`: a failed sign-in, or a password-reset
    request (every one counts, as there is no failure to tell it by)."""
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
        excess = row.failures - free_attempts(settings, key)
        if excess >= 0:
            seconds = min(settings.login_lockout_base_seconds * 2**excess, settings.login_lockout_max_seconds)
            row.locked_until = now + timedelta(seconds=seconds)
        row.expires_at = max(now + FAILURE_MEMORY, row.locked_until or now)
    await ctx.session.flush()


async def clear_account_failures(ctx: UseCaseContext, email: str) -> None:
    await ctx.session.execute(delete(LoginThrottle).where(LoginThrottle.key == throttle_keys(email, "")[0]))


async def clear_reset_requests(ctx: UseCaseContext, email: str) -> None:
    await ctx.session.execute(delete(LoginThrottle).where(LoginThrottle.key == reset_keys(email, "")[0]))


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
