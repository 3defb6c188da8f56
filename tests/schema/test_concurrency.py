"""Races through the ASGI app (concurrent HTTP requests on one event loop, each mutation its
own transaction), on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

from sqlalchemy import func, select, text

from models import Company, Group, Membership, MembershipStatus, OutboxMessage, Role
from tests.factories import Api, Member, Tenant, create_member
from tests.helpers import outcome

ROUNDS = 5
RESULT = "__typename ... on MutationError { code message field }"
UPDATE_USER = f"mutation($input: UpdateUserInput!) {{ updateUser(input: $input) {{ {RESULT} }} }}"
DEACTIVATE_USER = f"mutation($input: UserIdInput!) {{ deactivateUser(input: $input) {{ {RESULT} }} }}"


async def demote(api: Api, actor: Member, target: Member) -> str:
    return outcome(await api.raw(UPDATE_USER, {"input": {"id": target.gid, "role": "CUSTOMER"}}, actor.token),
                   "updateUser")


async def deactivate(api: Api, actor: Member, target: Member) -> str:
    return outcome(await api.raw(DEACTIVATE_USER, {"input": {"id": target.gid}}, actor.token), "deactivateUser")


async def admins_tenant(api: Api, count: int) -> tuple[Tenant, list[Member]]:
    tenant = await api.tenant([Role.ADMIN])
    admins = [tenant[Role.ADMIN]]
    for _ in range(count - 1):
        admin = await create_member(api.services, tenant.company_id, tenant.group_id, Role.ADMIN)
        await api.token_for(admin)
        admins.append(admin)
    return tenant, admins


async def active_admins(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(Membership).where(
            Membership.company_id == company_id, Membership.role == Role.ADMIN.value,
            Membership.status == MembershipStatus.ACTIVE.value,
        ))


# Every answer a loser of the race may get: it lost its own rights first (FORBIDDEN, or
# ROLE_NOT_ALLOWED as a fresh manager acting on an administrator), was locked out altogether
# (UNAUTHENTICATED), found its target already changed (INVALID_STATE), or met the rule itself.
LOSING = {"LAST_ADMIN", "FORBIDDEN", "ROLE_NOT_ALLOWED", "UNAUTHENTICATED", "INVALID_STATE"}


async def test_two_admins_demoting_and_deactivating_the_others_leave_an_active_admin(api, services):
    seen = Counter()
    for _ in range(ROUNDS):
        tenant, (a, b, c) = await admins_tenant(api, 3)
        results = await asyncio.gather(
            demote(api, a, b), deactivate(api, a, c), deactivate(api, b, a), demote(api, b, c),
        )
        seen.update(results)
        assert set(results) <= LOSING | {"ok"}, results
        assert "ok" in results
        assert await active_admins(services, tenant.company_id) >= 1, results
    assert seen["ok"] >= ROUNDS


async def test_three_admins_each_demoting_the_other_two_leave_an_active_admin(api, services):
    for _ in range(ROUNDS):
        tenant, admins = await admins_tenant(api, 3)
        calls = []
        for actor in admins:
            for target in admins:
                if target is not actor:
                    calls.append(demote(api, actor, target) if target is admins[(admins.index(actor) + 1) % 3]
                                 else deactivate(api, actor, target))
        results = await asyncio.gather(*calls)
        assert set(results) <= LOSING | {"ok"}, results
        assert await active_admins(services, tenant.company_id) >= 1, results


async def _hold_the_company(services, company_id: int):
    """A transaction holding what every change to the company's administrators waits for:
    the company row (PostgreSQL) or the database's write lock (SQLite)."""
    session = services.db.write_sessions()
    await session.begin()
    await session.execute(select(Company.id).where(Company.id == company_id).with_for_update())
    return session


async def _wait_for_waiters(services, count: int) -> None:
    if services.db.dialect != "postgresql":
        await asyncio.sleep(0.5)  # SQLite has no lock table to look at; the waiters sit in BEGIN IMMEDIATE
        return
    for _ in range(500):
        async with services.db.engine.connect() as connection:
            waiting = await connection.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ))
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the requests never queued up behind the held lock")


async def test_two_admins_demoting_each_other_at_the_same_moment(api, services):
    """Both requests start while both are administrators and queue up behind one lock; once it
    is released exactly one demotion happens. On PostgreSQL the loser was loaded as an
    administrator and meets LAST_ADMIN; on SQLite the whole transaction is serialized, so the
    loser is already a customer and lacks user:update."""
    tenant, (a, b) = await admins_tenant(api, 2)
    holder = await _hold_the_company(services, tenant.company_id)
    try:
        first = asyncio.create_task(demote(api, a, b))
        second = asyncio.create_task(demote(api, b, a))
        await _wait_for_waiters(services, 2)
        assert not first.done() and not second.done()
    finally:
        await holder.rollback()
        await holder.close()
    results = sorted([await first, await second])
    loser = "LAST_ADMIN" if services.db.dialect == "postgresql" else "FORBIDDEN"
    assert results == sorted(["ok", loser])
    assert await active_admins(services, tenant.company_id) == 1


async def test_deactivations_at_the_same_moment_keep_an_admin(api, services):
    tenant, (a, b) = await admins_tenant(api, 2)
    holder = await _hold_the_company(services, tenant.company_id)
    try:
        first = asyncio.create_task(deactivate(api, a, b))
        second = asyncio.create_task(deactivate(api, b, a))
        await _wait_for_waiters(services, 2)
    finally:
        await holder.rollback()
        await holder.close()
    results = sorted([await first, await second])
    loser = "LAST_ADMIN" if services.db.dialect == "postgresql" else "UNAUTHENTICATED"
    assert results == sorted(["ok", loser])
    assert await active_admins(services, tenant.company_id) == 1


async def _mailed_token(services, email: str, path: str) -> str:
    await services.mailer.drain()
    async with services.db.read_sessions() as session:
        body = await session.scalar(
            select(OutboxMessage.body).where(OutboxMessage.recipient == email)
            .order_by(OutboxMessage.id.desc()).limit(1)
        )
    return re.search(rf"/{path}\?token=(\S+)", body).group(1)


ACCEPT = """mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) {
  __typename ... on UserPayload { user { status } } ... on MutationError { code } } }"""
RESET = """mutation($input: ResetPasswordInput!) { resetPassword(input: $input) {
  __typename ... on MutationError { code } } }"""


async def test_concurrent_invitation_acceptances_with_one_token_succeed_once(api, services):
    tenant = await api.tenant([Role.ADMIN])
    for n in range(ROUNDS):
        email = f"invitee{n}@example.com"
        body = await api.raw(
            'mutation($input: InviteUserInput!) { inviteUser(input: $input) { __typename } }',
            {"input": {"email": email, "groupId": tenant.group_gid, "role": "CUSTOMER"}}, tenant[Role.ADMIN].token,
        )
        assert body["data"]["inviteUser"]["__typename"] == "UserPayload"
        token = await _mailed_token(services, email, "accept-invitation")
        passwords = [f"first-password-{n}", f"second-password-{n}", f"third-password-{n}"]
        bodies = await asyncio.gather(*[
            api.raw(ACCEPT, {"input": {"token": token, "firstName": f"P{i}", "lastName": "L", "password": password}})
            for i, password in enumerate(passwords)
        ])
        results = [b["data"]["acceptInvitation"] for b in bodies]
        assert sorted(r["__typename"] for r in results) == ["MutationError", "MutationError", "UserPayload"], results
        assert {r["code"] for r in results if r["__typename"] == "MutationError"} == {"INVALID_TOKEN"}
        winner = passwords[[r["__typename"] for r in results].index("UserPayload")]
        logins = [(await api.login(email, password))["__typename"] for password in passwords]
        assert logins == ["AuthPayload" if p == winner else "MutationError" for p in passwords]


async def test_concurrent_password_resets_with_one_token_succeed_once(api, services):
    tenant = await api.tenant([Role.CUSTOMER])
    member = tenant[Role.CUSTOMER]
    for n in range(ROUNDS):
        request = f'mutation {{ requestPasswordReset(input: {{email: "{member.email}"}}) {{ __typename }} }}'
        body = await api.raw(request)
        assert body["data"]["requestPasswordReset"]["__typename"] == "AcceptedPayload"
        token = await _mailed_token(services, member.email, "reset-password")
        passwords = [f"reset-one-{n}-abc", f"reset-two-{n}-abc"]
        bodies = await asyncio.gather(*[
            api.raw(RESET, {"input": {"token": token, "newPassword": password}}) for password in passwords
        ])
        results = [b["data"]["resetPassword"] for b in bodies]
        assert sorted(r["__typename"] for r in results) == ["AcceptedPayload", "MutationError"], results
        assert [r["code"] for r in results if r["__typename"] == "MutationError"] == ["INVALID_TOKEN"]
        winner = passwords[[r["__typename"] for r in results].index("AcceptedPayload")]
        logins = [(await api.login(member.email, password))["__typename"] for password in passwords]
        assert logins == ["AuthPayload" if p == winner else "MutationError" for p in passwords]
        member.password = winner


CREATE_GROUP = """mutation($input: CreateGroupInput!) { createGroup(input: $input) {
  __typename ... on MutationError { code } } }"""


async def test_concurrent_group_creations_keep_names_unique_ignoring_case(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    for n in range(ROUNDS):
        names = [f"Team {n}", f"TEAM {n}", f"team {n}"]
        bodies = await asyncio.gather(*[
            api.raw(CREATE_GROUP, {"input": {"name": name}}, tenant[role].token)
            for name, role in zip(names, [Role.ADMIN, Role.MANAGER, Role.ADMIN], strict=True)
        ])
        results = [outcome(body, "createGroup") for body in bodies]
        assert sorted(results) == ["GROUP_NAME_TAKEN", "GROUP_NAME_TAKEN", "ok"], results
        async with services.db.read_sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(Group).where(
                Group.company_id == tenant.company_id, func.lower(Group.name) == f"team {n}"))
        assert stored == 1


MOVE = """mutation($input: MoveUsersToGroupInput!) { moveUsersToGroup(input: $input) {
  __typename ... on MutationError { code } } }"""
DELETE_GROUP = """mutation($input: DeleteGroupInput!) { deleteGroup(input: $input) {
  __typename ... on MutationError { code } } }"""


async def test_deleting_a_group_while_users_move_into_it_never_strands_them(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER, Role.CUSTOMER])
    for n in range(ROUNDS):
        create = (f'mutation {{ createGroup(input: {{name: "Target {n}"}}) {{ '
                  '... on GroupPayload { group { id } } } }')
        body = await api.raw(create, token=tenant[Role.ADMIN].token)
        group_gid = body["data"]["createGroup"]["group"]["id"]
        move, delete = await asyncio.gather(
            api.raw(MOVE, {"input": {"userIds": [tenant[Role.CUSTOMER].gid], "groupId": group_gid}},
                    tenant[Role.MANAGER].token),
            api.raw(DELETE_GROUP, {"input": {"id": group_gid}}, tenant[Role.ADMIN].token),
        )
        results = (outcome(move, "moveUsersToGroup"), outcome(delete, "deleteGroup"))
        assert results in {("ok", "GROUP_NOT_EMPTY"), ("NOT_FOUND", "ok"), ("CONFLICT", "ok")}, results
        async with services.db.read_sessions() as session:
            group_id = await session.scalar(select(Membership.group_id).where(
                Membership.id == tenant[Role.CUSTOMER].membership_id))
            assert await session.get(Group, group_id) is not None
        if results[0] != "ok":
            # Put the customer back in a group that stays.
            await api.raw(MOVE, {"input": {"userIds": [tenant[Role.CUSTOMER].gid], "groupId": tenant.group_gid}},
                          tenant[Role.ADMIN].token)
