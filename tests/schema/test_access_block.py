"""Blocking access on suspected misuse, end to end: blockMyAccess, blockMember, unblockMember. A refused call
changes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from models import (
    AuditEntry,
    AuthSession,
    Card,
    CardBlockReason,
    CardStatus,
    Membership,
    RecurringOrder,
    RecurringStatus,
    Role,
    SavedCart,
)
from models.base import utcnow
from tests import helpers
from tests.factories import Api, Member, Tenant, create_member, error_code
from tests.helpers import snapshot
from tests.ordering_helpers import add_to_cart, approval_rule, create_product, shop, submit
from tests.websocket_helpers import graphql_socket, until

RESULT = """__typename ... on BlockAccessPayload { users { id blocked blockedAt blockReason } sessionsEnded
  cardsBlocked recurringOrdersStopped message } ... on MutationError { code message field }"""
USER_RESULT = """__typename ... on UserPayload { user { id blocked blockedAt blockReason status } }
  ... on MutationError { code message field }"""
BLOCK_ME = f"mutation($input: BlockMyAccessInput) {{ blockMyAccess(input: $input) {{ {RESULT} }} }}"
REFRESH = """mutation($input: RefreshTokenInput!) { refreshToken(input: $input) {
  __typename ... on AuthPayload { accessToken } ... on MutationError { code message field } } }"""
ME = "{ me { email } }"


async def block_me(api: Api, token: str | None, reason: str | None = None) -> dict:
    return await api.raw(BLOCK_ME, {"input": {"reason": reason} if reason is not None else None}, token)


async def block_member(api: Api, token: str | None, member: Member | str, reason: str = "Phone stolen") -> dict:
    member_id = member if isinstance(member, str) else member.gid
    return await api.mutate("blockMember", "BlockMemberInput", RESULT, {"memberId": member_id, "reason": reason},
                            token)


async def unblock_member(api: Api, token: str | None, member: Member | str) -> dict:
    member_id = member if isinstance(member, str) else member.gid
    return await api.mutate("unblockMember", "UnblockMemberInput", USER_RESULT, {"memberId": member_id}, token)


async def card_and_schedule(api: Api, member: Member, *, status: CardStatus = CardStatus.ACTIVE) -> tuple[int, int]:
    """A live card held by the member and a running recurring purchase of theirs."""
    async with api.services.db.transaction() as session:
        card = Card(company_id=member.company_id, holder_id=member.membership_id,
                    number_digest=f"{member.membership_id:064d}"[-64:] if status == CardStatus.ACTIVE
                    else f"{member.membership_id + 10**6:064d}"[-64:],
                    last4="4242", expires_on=date(2030, 12, 31), monthly_limit_minor=500_000, currency="NOK",
                    status=status.value,
                    block_reason=CardBlockReason.PIN.value if status == CardStatus.BLOCKED else None)
        cart = SavedCart(company_id=member.company_id, owner_id=member.membership_id,
                         name=f"Weekly {member.membership_id} {status.value}")
        session.add_all([card, cart])
        await session.flush()
        schedule = RecurringOrder(company_id=member.company_id, buyer_id=member.membership_id, saved_cart_id=cart.id,
                                  rrule="FREQ=WEEKLY;BYDAY=MO", starts_at=utcnow(), next_run_at=utcnow())
        session.add(schedule)
        await session.flush()
        return card.id, schedule.id


async def fetch(api: Api, query) -> list:
    async with api.services.db.read_sessions() as session:
        return list((await session.execute(query)).all())


async def audit_of(api: Api, membership_id: int) -> list[tuple]:
    return await fetch(api, select(AuditEntry.company_id, AuditEntry.actor_user_id, AuditEntry.action)
                       .where(AuditEntry.entity == "user", AuditEntry.entity_id == membership_id)
                       .order_by(AuditEntry.id))


async def test_blocking_my_access_ends_every_session_blocks_cards_and_stops_recurring_purchases(api: Api):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    card_id, schedule_id = await card_and_schedule(api, buyer)
    other_device = await api.login(buyer.email)  # a second session, as on a stolen phone
    assert (await api.query(ME, token=other_device["accessToken"]))["me"]["email"] == buyer.email

    result = helpers.succeeded(await block_me(api, buyer.token, "  Lost my   phone "), "blockMyAccess")

    assert result["__typename"] == "BlockAccessPayload"
    assert [(u["id"], u["blocked"], u["blockReason"]) for u in result["users"]] == [
        (buyer.gid, True, "Lost my phone")]
    assert result["users"][0]["blockedAt"]
    assert (result["sessionsEnded"], result["cardsBlocked"], result["recurringOrdersStopped"]) == (2, 1, 1)
    assert "signed out" in result["message"]
    # Every access token is refused from the next request, every refresh token, and signing in.
    for token in (buyer.token, other_device["accessToken"]):
        assert error_code(await api.raw(ME, token=token)) == "UNAUTHENTICATED"
    refreshed = (await api.raw(REFRESH, {"input": {"refreshToken": other_device["refreshToken"]}}))["data"]
    assert refreshed["refreshToken"]["code"] == "ACCOUNT_BLOCKED"
    login = await api.login(buyer.email)
    assert (login["__typename"], login["code"]) == ("MutationError", "ACCOUNT_BLOCKED")
    assert await fetch(api, select(Card.status, Card.block_reason).where(Card.id == card_id)) == [
        (CardStatus.BLOCKED.value, CardBlockReason.MISUSE.value)]
    assert await fetch(api, select(RecurringOrder.status).where(RecurringOrder.id == schedule_id)) == [
        (RecurringStatus.STOPPED.value,)]
    assert set(await fetch(api, select(AuthSession.revoked_reason).where(AuthSession.user_id == buyer.user_id))) == {
        ("access_blocked",)}
    assert await audit_of(api, buyer.membership_id) == [(tenant.company_id, buyer.user_id, "block")]
    # The administrator sees the block.
    user = (await api.query("query($id: ID!) { user(id: $id) { blocked blockReason } }", {"id": buyer.gid},
                            tenant[Role.ADMIN].token))["user"]
    assert user == {"blocked": True, "blockReason": "Lost my phone"}


async def test_blocking_my_access_blocks_every_company_of_mine(api: Api):
    first, second = await api.tenant([Role.ADMIN]), await api.tenant([Role.ADMIN])
    person = await create_member(api.services, first.company_id, first.group_id, Role.CUSTOMER)
    elsewhere = await create_member(api.services, second.company_id, second.group_id, Role.CUSTOMER,
                                    email=person.email)
    card_id, _ = await card_and_schedule(api, elsewhere)
    token = await api.token_for(person)

    result = helpers.succeeded(await block_me(api, token), "blockMyAccess")

    assert sorted(u["id"] for u in result["users"]) == sorted([person.gid, elsewhere.gid])
    assert {u["blockReason"] for u in result["users"]} == {"Blocked by the person themselves"}
    assert (result["cardsBlocked"], result["recurringOrdersStopped"]) == (1, 1)
    assert await fetch(api, select(Card.status).where(Card.id == card_id)) == [(CardStatus.BLOCKED.value,)]
    for tenant in (first, second):
        login = await api.login(person.email, company_id=tenant.gid)
        assert login["code"] == "ACCOUNT_BLOCKED"
    assert await audit_of(api, elsewhere.membership_id) == [(second.company_id, person.user_id, "block")]


async def test_an_api_client_and_anonymous_callers_cannot_block(api: Api):
    before = await snapshot(api.services)
    assert error_code(await block_me(api, None)) == "UNAUTHENTICATED"
    assert await snapshot(api.services) == before


async def test_an_administrator_blocks_and_unblocks_a_member(api: Api):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER, Role.ORDER_APPROVER])
    admin, buyer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]
    card_id, schedule_id = await card_and_schedule(api, buyer)
    pin_card_id, _ = await card_and_schedule(api, buyer, status=CardStatus.BLOCKED)

    result = helpers.succeeded(await block_member(api, admin.token, buyer, "Card used abroad"), "blockMember")

    assert [(u["id"], u["blocked"], u["blockReason"]) for u in result["users"]] == [
        (buyer.gid, True, "Card used abroad")]
    assert (result["sessionsEnded"], result["cardsBlocked"], result["recurringOrdersStopped"]) == (1, 1, 2)
    assert error_code(await api.raw(ME, token=buyer.token)) == "UNAUTHENTICATED"
    assert (await api.login(buyer.email))["code"] == "ACCOUNT_BLOCKED"
    assert (await api.query(ME, token=admin.token))["me"]["email"] == admin.email  # the administrator's stay
    assert helpers.failed(await block_member(api, admin.token, buyer), "blockMember")["code"] == "INVALID_STATE"

    unblocked = helpers.succeeded(await unblock_member(api, admin.token, buyer), "unblockMember")["user"]

    assert (unblocked["blocked"], unblocked["blockedAt"], unblocked["blockReason"]) == (False, None, None)
    assert (await api.login(buyer.email))["__typename"] == "AuthPayload"
    # The misuse block is lifted, the PIN block stays; recurring purchases stay stopped.
    cards = dict(await fetch(api, select(Card.id, Card.status).where(Card.holder_id == buyer.membership_id)))
    assert cards == {card_id: CardStatus.ACTIVE.value, pin_card_id: CardStatus.BLOCKED.value}
    assert await fetch(api, select(RecurringOrder.status).where(RecurringOrder.id == schedule_id)) == [
        (RecurringStatus.STOPPED.value,)]
    assert [a for *_, a in await audit_of(api, buyer.membership_id)] == ["block", "unblock"]
    assert {u for _, u, _ in await audit_of(api, buyer.membership_id)} == {admin.user_id}
    assert helpers.failed(await unblock_member(api, admin.token, buyer), "unblockMember")["code"] == "INVALID_STATE"


async def test_a_blocked_member_only_loses_that_company(api: Api):
    first, second = await api.tenant([Role.ADMIN]), await api.tenant([Role.ADMIN])
    person = await create_member(api.services, first.company_id, first.group_id, Role.CUSTOMER)
    await create_member(api.services, second.company_id, second.group_id, Role.CUSTOMER, email=person.email)
    in_second = await api.login(person.email, company_id=second.gid)
    in_first = await api.token_for(person)

    helpers.succeeded(await block_member(api, first[Role.ADMIN].token, person), "blockMember")

    assert error_code(await api.raw(ME, token=in_first)) == "UNAUTHENTICATED"
    assert (await api.query(ME, token=in_second["accessToken"]))["me"]["email"] == person.email
    switch = (await api.raw("""mutation($input: SwitchCompanyInput!) { switchCompany(input: $input) {
        __typename ... on MutationError { code } } }""", {"input": {"companyId": first.gid}},
        in_second["accessToken"]))["data"]["switchCompany"]
    assert switch == {"__typename": "MutationError", "code": "ACCOUNT_BLOCKED"}
    assert (await api.login(person.email))["companyId"] == second.gid  # signing in lands in the other company


async def test_who_may_block_and_unblock(api: Api):
    tenant = await api.tenant()
    other = await api.tenant([Role.ADMIN])
    target = await create_member(api.services, tenant.company_id, tenant.group_id, Role.CUSTOMER)
    before = await snapshot(api.services)
    for role in (Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER, Role.ACCOUNTANT):
        assert error_code(await block_member(api, tenant[role].token, target)) == "FORBIDDEN"
        assert error_code(await unblock_member(api, tenant[role].token, target)) == "FORBIDDEN"
    # An administrator of another company finds no such user; nor does anyone an unknown id.
    assert helpers.failed(await block_member(api, other[Role.ADMIN].token, target), "blockMember") == {
        "__typename": "MutationError", "code": "NOT_FOUND", "message": "No such user", "field": "memberId"}
    assert helpers.failed(await unblock_member(api, other[Role.ADMIN].token, target), "unblockMember")[
        "code"] == "NOT_FOUND"
    admin = tenant[Role.ADMIN]
    assert helpers.failed(await block_member(api, admin.token, admin), "blockMember")["code"] == "SELF_ACTION"
    assert helpers.failed(await block_member(api, admin.token, target, "  "), "blockMember")["field"] == "reason"
    assert helpers.failed(await unblock_member(api, admin.token, target), "unblockMember")["code"] == "INVALID_STATE"
    assert error_code(await block_member(api, None, target)) == "UNAUTHENTICATED"
    assert await snapshot(api.services) == before


async def test_a_person_cannot_unblock_themselves(api: Api):
    tenant: Tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    admin, second_admin = tenant[Role.ADMIN], await create_member(
        api.services, tenant.company_id, tenant.group_id, Role.ADMIN)
    await api.token_for(second_admin)
    helpers.succeeded(await block_me(api, admin.token), "blockMyAccess")
    # Blocked, the administrator has no session left to unblock with; another administrator decides.
    assert error_code(await unblock_member(api, admin.token, admin)) == "UNAUTHENTICATED"
    helpers.succeeded(await unblock_member(api, second_admin.token, admin), "unblockMember")
    assert await audit_of(api, admin.membership_id) == [
        (tenant.company_id, admin.user_id, "block"), (tenant.company_id, second_admin.user_id, "unblock")]
    rows = await fetch(api, select(Membership.blocked_at).where(Membership.id == admin.membership_id))
    assert rows == [(None,)]


async def test_a_blocked_approver_is_no_approver(api: Api):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER, Role.ORDER_APPROVER])
    product = await create_product(api.services)
    await approval_rule(api.services, tenant.company_id)
    helpers.succeeded(await block_member(api, tenant[Role.ADMIN].token, tenant[Role.ORDER_APPROVER]), "blockMember")
    buyer = tenant[Role.CUSTOMER]
    helpers.succeeded(await add_to_cart(api, buyer, product_id=product, quantity=1), "addToCart")
    assert helpers.failed(await submit(api, buyer), "submitOrder")["code"] == "NO_APPROVER"


async def test_a_blocked_member_loses_their_live_subscriptions(api: Api, database_url: str):
    """An open subscription reloads its caller at its next check: a block ends it like a logout."""
    from tests.schema.test_subscription import ORDER_EVENTS, another_app, subscribed

    async with another_app(database_url, subscription_recheck_seconds=0.2) as (address, services):
        tenant = await api.tenant([Role.ADMIN, Role.MANAGER, Role.CUSTOMER])
        manager, customer = tenant[Role.MANAGER], tenant[Role.CUSTOMER]
        async with graphql_socket(address, manager.token) as by_admin, \
                graphql_socket(address, customer.token) as by_self:
            await subscribed(by_admin, services, ORDER_EVENTS)
            await subscribed(by_self, services, ORDER_EVENTS, count=2)
            helpers.succeeded(await block_member(api, tenant[Role.ADMIN].token, manager), "blockMember")
            helpers.succeeded(await block_me(api, customer.token), "blockMyAccess")
            assert await by_admin.closed() == (4403, "Forbidden")
            assert await by_self.closed() == (4403, "Forbidden")
        await until(lambda: services.broker.live_subscribers() == 0, "the subscriptions to end")
