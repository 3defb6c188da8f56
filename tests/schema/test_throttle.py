"""Throttling beyond sign-in: password-reset requests are limited per typed email and per client
address, answer and work the same for known and unknown addresses; throttle rows expire, so the
table does not grow with every address anyone types."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, func, select

from models import LinkToken, LoginThrottle, OutboxMessage, Role
from models.base import utcnow
from resolvers.context import UseCaseContext
from resolvers.password import request_password_reset
from resolvers.throttle import FAILURE_MEMORY, PRUNE_BATCH
from tests.conftest import test_settings as make_settings
from tests.factories import Api, create_company, create_member

REQUEST_RESET = """
mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
  __typename ... on AcceptedPayload { message } ... on MutationError { code message field }
} }"""
ACCEPTED = {"__typename": "AcceptedPayload", "message": "If the address has an account, a reset link is on its way"}
TOO_MANY_RESETS = {
    "__typename": "MutationError", "code": "TOO_MANY_ATTEMPTS",
    "message": "Too many password reset requests; wait a moment and try again", "field": None,
}
LOGIN = """
mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  __typename ... on MutationError { code }
} }"""


async def request_reset(api: Api, email: str) -> dict:
    return (await api.query(REQUEST_RESET, {"email": email}))["requestPasswordReset"]


async def failed_login(api: Api, email: str) -> str:
    return (await api.query(LOGIN, {"email": email, "password": "wrong-password"}))["login"]["code"]


async def person(services, email: str = "forgetful@example.com"):
    company_id, group_id = await create_company(services)
    return await create_member(services, company_id, group_id, Role.CUSTOMER, email=email)


async def rows(services, model, *where) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def throttle_keys(services) -> set[str]:
    async with services.db.read_sessions() as session:
        return set((await session.scalars(select(LoginThrottle.key))).all())


async def time_passes(services, delta: timedelta) -> None:
    """Move every throttle row `delta` into the past, as if that much time had gone by."""
    async with services.db.transaction() as session:
        for row in (await session.scalars(select(LoginThrottle))).all():
            row.last_failure_at -= delta
            row.expires_at -= delta
            row.locked_until = row.locked_until - delta if row.locked_until else None


@pytest.fixture
async def other_client(app, services):
    transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Api(http, services)


# --- password-reset requests ----------------------------------------------------------------------

async def test_reset_requests_are_limited_per_email_alike_for_known_and_unknown_addresses(api, services):
    await person(services)

    known = [await request_reset(api, "Forgetful@Example.com") for _ in range(4)]
    unknown = [await request_reset(api, "nobody@example.com") for _ in range(4)]

    assert known == unknown == [ACCEPTED] * 3 + [TOO_MANY_RESETS]
    assert await rows(services, OutboxMessage, OutboxMessage.recipient == "forgetful@example.com") == 3
    assert await rows(services, OutboxMessage) == 3
    # One link works: each request replaced the one before; the refused request added none.
    assert await rows(services, LinkToken, LinkToken.used_at.is_(None)) == 1
    assert await rows(services, LinkToken) == 3
    async with services.db.read_sessions() as session:
        counted = await session.get(LoginThrottle, "reset-email:nobody@example.com")
    assert counted.failures == 3
    assert counted.locked_until - counted.last_failure_at == timedelta(seconds=2)


async def test_the_reset_lock_expires_and_then_doubles(api, services):
    await person(services)
    for _ in range(3):
        assert await request_reset(api, "forgetful@example.com") == ACCEPTED
    assert await request_reset(api, "forgetful@example.com") == TOO_MANY_RESETS

    await time_passes(services, timedelta(seconds=3))
    assert await request_reset(api, "forgetful@example.com") == ACCEPTED
    async with services.db.read_sessions() as session:
        row = await session.get(LoginThrottle, "reset-email:forgetful@example.com")
    assert row.failures == 4
    assert row.locked_until - row.last_failure_at == timedelta(seconds=4)
    assert await request_reset(api, "forgetful@example.com") == TOO_MANY_RESETS
    assert await rows(services, OutboxMessage) == 4


class TestPerClientLimit:
    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, password_reset_free_requests_per_address=4)

    async def test_one_client_is_limited_whichever_addresses_it_asks_for(self, api, services, other_client):
        await person(services)

        answers = [await request_reset(api, f"someone{i}@example.com") for i in range(4)]
        fifth = await request_reset(api, "forgetful@example.com")

        assert answers == [ACCEPTED] * 4
        assert fifth == TOO_MANY_RESETS
        assert await rows(services, OutboxMessage) == 0
        # Another client is not held back by the first one's requests.
        assert await request_reset(other_client, "forgetful@example.com") == ACCEPTED
        assert await rows(services, OutboxMessage, OutboxMessage.recipient == "forgetful@example.com") == 1


async def test_a_reset_request_does_the_same_work_for_a_known_and_an_unknown_address(services):
    """The statements of the request's transaction are the same, in the same order, whether or
    not the address has an account (only the rows they find differ): the timing has nothing to
    tell. Each request comes from a client of its own, so the throttle rows are new for both."""
    await person(services)

    async def statements_of_a_request(email: str, client_address: str) -> tuple[list[str], UseCaseContext]:
        statements: list[str] = []

        def record(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
            statements.append(statement)

        event.listen(services.db.engine.sync_engine, "before_cursor_execute", record)
        try:
            async with services.db.transaction() as session:
                ctx = UseCaseContext(services=services, session=session, actor=None, client_address=client_address)
                await request_password_reset(ctx, email=email)
        finally:
            event.remove(services.db.engine.sync_engine, "before_cursor_execute", record)
        return statements, ctx

    known, known_ctx = await statements_of_a_request("forgetful@example.com", "192.0.2.1")
    unknown, unknown_ctx = await statements_of_a_request("nobody@example.com", "192.0.2.2")

    assert known == unknown
    assert len(known) >= 6  # throttle upsert and count, old links, new link, outbox (and more)
    assert any("INSERT INTO mail_outbox" in statement for statement in known)
    # The work found an account for the one and nothing for the other.
    assert (len(known_ctx.queued_mail), len(unknown_ctx.queued_mail)) == (1, 0)
    assert await rows(services, LinkToken) == 1
    assert await rows(services, OutboxMessage, OutboxMessage.recipient == "forgetful@example.com") == 1
    assert await rows(services, OutboxMessage) == 1


# --- throttle rows expire -------------------------------------------------------------------------

async def test_the_throttle_table_does_not_grow_with_typed_in_addresses(api, services):
    """Each round types 30 new addresses; after an hour and more their rows are gone, deleted by
    the next round's attempts, so the table holds one round's rows, never the sum of all."""
    sizes = []
    for round_number in range(3):
        for i in range(30):
            assert await failed_login(api, f"typed{round_number}-{i}@example.com") == "INVALID_CREDENTIALS"
        sizes.append(await rows(services, LoginThrottle))
        await time_passes(services, FAILURE_MEMORY + timedelta(minutes=1))

    assert sizes == [31, 31, 31]  # 30 typed emails and the one client address
    assert PRUNE_BATCH >= 31


async def test_a_row_that_still_counts_or_locks_is_kept(api, services):
    member = await person(services)
    for _ in range(5):
        assert await failed_login(api, member.email) == "INVALID_CREDENTIALS"
    await time_passes(services, FAILURE_MEMORY - timedelta(minutes=1))

    # Another address's attempt prunes what has expired: nothing of this account yet.
    assert await failed_login(api, "someone@example.com") == "INVALID_CREDENTIALS"
    async with services.db.read_sessions() as session:
        kept = await session.get(LoginThrottle, f"email:{member.email}")
    assert kept.failures == 5

    await time_passes(services, timedelta(minutes=2))
    assert await failed_login(api, "someone.else@example.com") == "INVALID_CREDENTIALS"
    assert await throttle_keys(services) == {"email:someone@example.com", "email:someone.else@example.com",
                                             "ip:203.0.113.7"}


async def test_a_long_lock_outlives_the_counting_window(api, services):
    async with services.db.transaction() as session:
        session.add(LoginThrottle(key="email:locked@example.com", failures=12, last_failure_at=utcnow(),
                                  locked_until=utcnow() + timedelta(hours=2), expires_at=utcnow() + timedelta(hours=2)))
    await time_passes(services, FAILURE_MEMORY + timedelta(minutes=1))

    assert await failed_login(api, "someone@example.com") == "INVALID_CREDENTIALS"
    assert await failed_login(api, "locked@example.com") == "TOO_MANY_ATTEMPTS"
    assert "email:locked@example.com" in await throttle_keys(services)


async def test_successful_sign_ins_leave_no_rows_behind(app, services):
    member = await person(services)
    for i in range(5):
        transport = httpx.ASGITransport(app=app, client=(f"192.0.2.{i + 1}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await Api(http, services).login(member.email))["__typename"] == "AuthPayload"

    # The last sign-in's empty counter for its address waits for the next attempt to delete it.
    assert await throttle_keys(services) == {"ip:192.0.2.5"}
