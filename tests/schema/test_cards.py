"""Company cards: ordering (who, for whom, how many), the number shown once, the PIN, blocks and who lifts which,
cancelling, reading. Refusals change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from sqlalchemy import select, update
from stdnum import luhn

from models import AuditEntry, Membership, MembershipStatus, PermissionRestriction, Role
from models.base import utcnow
from models.card import Card, CardBlockReason, CardMonthlySpend
from policies.actor import Actor
from resolvers import card as cards
from resolvers.card_number import card_expiry, card_number_digest
from resolvers.context import UseCaseContext
from schema.relay import decode_id, to_global_id
from tests.factories import Member, create_member, operator
from tests.helpers import count, snapshot


async def run_as(services, member: Member, use_case: Callable[[UseCaseContext], Awaitable[Any]]) -> Any:
    """One use case as a member, in one transaction, as a mutation runs it."""
    actor = Actor(member.user_id, 0, member.membership_id, member.company_id, member.role, frozenset(), False)
    async with services.db.write_sessions() as session:
        await session.begin()
        result = await use_case(UseCaseContext(services=services, session=session, actor=actor))
        await session.commit()
    return result


async def order(services, admin: Member, holder: Member, limit_minor: int = 5_000_00) -> cards.OrderedCard:
    return await run_as(services, admin, lambda ctx: cards.order_card(
        ctx, holder_id=holder.membership_id, monthly_limit_minor=limit_minor))


async def card_rows(services, *where) -> list[Card]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(Card).where(*where).order_by(Card.id))).all())


async def test_block_cards_of_blocks_a_holders_active_cards_and_keeps_other_blocks(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER, Role.MANAGER])
    admin, customer, manager = tenant[Role.ADMIN], tenant[Role.CUSTOMER], tenant[Role.MANAGER]
    first, second = await order(services, admin, customer), await order(services, admin, customer)
    others = await order(services, admin, manager)
    await run_as(services, customer, lambda ctx: cards.block_card(ctx, card_id=second.view.card.id))

    blocked = await run_as(services, admin, lambda ctx: cards.block_cards_of(
        ctx, customer.membership_id, CardBlockReason.MISUSE))

    assert blocked == 1
    rows = {card.id: card for card in await card_rows(services)}
    assert (rows[first.view.card.id].status, rows[first.view.card.id].block_reason) == ("blocked", "misuse")
    assert (rows[second.view.card.id].status, rows[second.view.card.id].block_reason) == ("blocked", "holder")
    assert rows[others.view.card.id].status == "active"
    lifted = await run_as(services, admin, lambda ctx: cards.unblock_cards_of(
        ctx, customer.membership_id, CardBlockReason.MISUSE))
    assert lifted == 1
    rows = {card.id: card for card in await card_rows(services)}
    assert (rows[first.view.card.id].status, rows[first.view.card.id].block_reason) == ("active", None)
    assert rows[second.view.card.id].block_reason == "holder"


# --- through the API ---------------------------------------------------------------------------------------------

CARD_FIELDS = ("id last4 status blockReason blockedAt monthlyLimit { amount currency } spentThisMonth { amount } "
               "remainingThisMonth { amount } pinSet expiresOn createdAt holder { id }")
ERR = "... on MutationError { code message field }"
MUTATIONS = {
    "orderCard": ("OrderCardInput", f"... on OrderCardPayload {{ cardNumber card {{ {CARD_FIELDS} }} }}"),
    "setCardPin": ("SetCardPinInput", f"... on CardPayload {{ card {{ {CARD_FIELDS} }} }}"),
    "blockCard": ("BlockCardInput", f"... on CardPayload {{ card {{ {CARD_FIELDS} }} }}"),
    "blockAllCards": ("BlockAllCardsInput", "... on BlockAllCardsPayload { blockedCount }"),
    "unblockCard": ("CardIdInput", f"... on CardPayload {{ card {{ {CARD_FIELDS} }} }}"),
    "cancelCard": ("CardIdInput", f"... on CardPayload {{ card {{ {CARD_FIELDS} }} }}"),
}


async def call(api, name: str, input: dict, token: str | None) -> dict:
    """The mutation's result, or {"__typename": "GraphQLError", "code": ...} for a top-level error."""
    input_type, selection = MUTATIONS[name]
    body = await api.mutate(name, input_type, f"__typename {selection} {ERR}", input, token)
    if body.get("errors"):
        return {"__typename": "GraphQLError", "code": body["errors"][0]["extensions"]["code"]}
    return body["data"][name]


def code_of(result: dict) -> str:
    return result.get("code", "ok") if result["__typename"] in ("MutationError", "GraphQLError") else "ok"


async def ok(api, name: str, input: dict, token: str | None) -> dict:
    result = await call(api, name, input, token)
    assert code_of(result) == "ok", result
    return result


async def order_via_api(api, admin: Member, holder: Member, limit: str = "5000.00") -> dict:
    return await ok(api, "orderCard", {"holderId": holder.gid, "monthlyLimit": limit}, admin.token)


async def list_cards(api, token: str, filter: dict | None = None) -> list[dict]:
    data = await api.query(f"query($f: CardFilter) {{ cards(filter: $f) {{ edges {{ node {{ {CARD_FIELDS} }} }} }} }}",
                           {"f": filter}, token)
    return [edge["node"] for edge in data["cards"]["edges"]]


async def test_an_administrator_orders_a_card_and_its_number_is_shown_once(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin, customer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]

    result = await order_via_api(api, admin, customer, "5000.5")

    number, card = result["cardNumber"], result["card"]
    assert len(number) == 16 and number.isdigit() and luhn.is_valid(number)
    assert number.startswith(services.settings.card_number_prefix)
    today = utcnow().date()
    assert card["last4"] == number[-4:] and card["expiresOn"] == card_expiry(today).isoformat()
    assert date.fromisoformat(card["expiresOn"]).year == today.year + 4
    assert (card["status"], card["blockReason"], card["pinSet"], card["holder"]["id"]) == (
        "ACTIVE", None, False, customer.gid)
    assert (card["monthlyLimit"], card["spentThisMonth"], card["remainingThisMonth"]) == (
        {"amount": "5000.50", "currency": "NOK"}, {"amount": "0.00"}, {"amount": "5000.50"})
    [row] = await card_rows(services)
    assert row.number_digest == card_number_digest(services.settings, number) and row.last4 == number[-4:]
    # The whole number is nowhere: not in any table (the audit log included), nor in any later answer.
    assert number not in repr(await snapshot(services))
    later = await api.raw(f"query($id: ID!) {{ node(id: $id) {{ ... on Card {{ {CARD_FIELDS} }} }} }}",
                          {"id": card["id"]}, admin.token)
    assert later["data"]["node"]["last4"] == number[-4:] and number not in repr(later)
    assert number not in repr(await list_cards(api, admin.token))
    assert await count(services, AuditEntry, AuditEntry.entity == "card", AuditEntry.action == "order") == 1


async def test_only_administrators_order_cards_and_only_for_active_buyers(api, services):
    tenant = await api.tenant(list(Role))
    other = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin = tenant[Role.ADMIN]
    deactivated = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER,
                                      status=MembershipStatus.DEACTIVATED)
    blocked = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER)
    restricted = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER)
    async with services.db.transaction() as session:
        await session.execute(update(Membership).where(Membership.id == blocked.membership_id).values(
            blocked_at=utcnow(), block_reason="lost phone"))
        session.add(PermissionRestriction(membership_id=restricted.membership_id, company_id=tenant.company_id,
                                          permission="order:create"))
    before = await snapshot(services)
    customer = tenant[Role.CUSTOMER]
    for role in (Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER, Role.ACCOUNTANT):
        result = await call(api, "orderCard", {"holderId": customer.gid, "monthlyLimit": "100"}, tenant[role].token)
        assert code_of(result) == "FORBIDDEN", role
    assert code_of(await call(api, "orderCard", {"holderId": customer.gid, "monthlyLimit": "100"}, None)) == (
        "UNAUTHENTICATED")
    refused = [
        ({"holderId": tenant[Role.ORDER_APPROVER].gid}, ("ROLE_NOT_ALLOWED", "holderId")),
        ({"holderId": tenant[Role.ACCOUNTANT].gid}, ("ROLE_NOT_ALLOWED", "holderId")),
        ({"holderId": restricted.gid}, ("ROLE_NOT_ALLOWED", "holderId")),
        ({"holderId": deactivated.gid}, ("INVALID_STATE", "holderId")),
        ({"holderId": blocked.gid}, ("INVALID_STATE", "holderId")),
        ({"holderId": other[Role.CUSTOMER].gid}, ("NOT_FOUND", "holderId")),
        ({"holderId": "nonsense"}, ("NOT_FOUND", "holderId")),
        ({"monthlyLimit": "0"}, ("INVALID_INPUT", "monthlyLimit")),
        ({"monthlyLimit": "-5"}, ("INVALID_INPUT", "monthlyLimit")),
        ({"monthlyLimit": "1.234"}, ("INVALID_INPUT", "monthlyLimit")),
        ({"monthlyLimit": "1e5"}, ("INVALID_INPUT", "monthlyLimit")),
    ]
    for change, (code, field) in refused:
        result = await call(api, "orderCard", {"holderId": customer.gid, "monthlyLimit": "100"} | change, admin.token)
        assert (result.get("code"), result.get("field")) == (code, field), change
    assert await snapshot(services) == before
    # An administrator and a manager buy, so they may hold cards too.
    for holder in (admin, tenant[Role.MANAGER]):
        await order_via_api(api, admin, holder)


async def test_an_account_has_at_most_max_live_cards_and_cancelling_frees_a_place(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin, customer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]
    ordered = [await order(services, admin, customer) for _ in range(services.settings.max_live_cards - 1)]
    last = await order_via_api(api, admin, admin)
    await ok(api, "blockCard", {"cardId": last["card"]["id"]}, admin.token)  # a blocked card is still live
    before = await snapshot(services)

    refused = await call(api, "orderCard", {"holderId": customer.gid, "monthlyLimit": "100"}, admin.token)

    assert (refused["code"], refused["field"]) == ("CARD_LIMIT_REACHED", None)
    assert await snapshot(services) == before
    await ok(api, "cancelCard", {"cardId": to_global_id("Card", ordered[0].view.card.id)}, admin.token)
    await order_via_api(api, admin, customer)
    assert code_of(await call(api, "orderCard", {"holderId": customer.gid, "monthlyLimit": "100"}, admin.token)) == (
        "CARD_LIMIT_REACHED")
    # Another account's cards are its own.
    other = await api.tenant([Role.ADMIN])
    await order_via_api(api, other[Role.ADMIN], other[Role.ADMIN])


async def test_the_holder_sets_a_pin_kept_as_an_argon2_hash(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin, customer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]
    ordered = await order_via_api(api, admin, customer)
    card_gid, last4 = ordered["card"]["id"], ordered["cardNumber"][-4:]
    async with services.db.transaction() as session:
        await session.execute(update(Card).values(failed_pin_attempts=2))
    before = await snapshot(services)
    assert code_of(await call(api, "setCardPin", {"cardId": card_gid, "pin": "4821"}, admin.token)) == "NOT_FOUND"
    assert code_of(await call(api, "setCardPin", {"cardId": card_gid, "pin": "4821"}, None)) == "UNAUTHENTICATED"
    trivial = ["0000", "7777", "1234", "6789", "9876", "3210", last4]
    for pin in ["123", "12345", "12a4", "", " 482", "٤٨٢١", *trivial]:
        result = await call(api, "setCardPin", {"cardId": card_gid, "pin": pin}, customer.token)
        assert (result.get("code"), result.get("field")) == ("INVALID_INPUT", "pin"), pin
    assert await snapshot(services) == before

    pin = "4821" if last4 != "4821" else "5930"
    result = await ok(api, "setCardPin", {"cardId": card_gid, "pin": pin}, customer.token)

    assert result["card"]["pinSet"] is True and pin not in repr(result)
    [row] = await card_rows(services)
    assert row.pin_hash.startswith("$argon2id$") and pin not in row.pin_hash
    assert await services.passwords.verify(row.pin_hash, pin) and row.failed_pin_attempts == 0
    await ok(api, "setCardPin", {"cardId": card_gid, "pin": "5930" if pin == "4821" else "4821"}, customer.token)
    [replaced] = await card_rows(services)
    assert replaced.pin_hash != row.pin_hash and not await services.passwords.verify(replaced.pin_hash, pin)
    await ok(api, "cancelCard", {"cardId": card_gid}, admin.token)
    assert code_of(await call(api, "setCardPin", {"cardId": card_gid, "pin": pin}, customer.token)) == "INVALID_STATE"


async def set_block(services, card_gid: str, reason: CardBlockReason) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(Card).where(Card.id == decode_id(card_gid, "Card")).values(
            status="blocked", block_reason=reason.value, blocked_at=utcnow(), failed_pin_attempts=3))


async def test_who_blocks_a_card_and_who_lifts_which_block(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER, Role.MANAGER, Role.ACCOUNTANT])
    admin, customer, manager = tenant[Role.ADMIN], tenant[Role.CUSTOMER], tenant[Role.MANAGER]
    staff = await operator(api)
    card = (await order_via_api(api, admin, customer))["card"]["id"]
    managers = (await order_via_api(api, admin, manager))["card"]["id"]
    before = await snapshot(services)
    # Someone else's card: a customer does not see it; an accountant sees it but does not block it.
    assert code_of(await call(api, "blockCard", {"cardId": managers}, customer.token)) == "NOT_FOUND"
    assert code_of(await call(api, "blockCard", {"cardId": card}, tenant[Role.ACCOUNTANT].token)) == "FORBIDDEN"
    assert code_of(await call(api, "unblockCard", {"cardId": card}, admin.token)) == "INVALID_STATE"
    assert await snapshot(services) == before

    held = await ok(api, "blockCard", {"cardId": card, "reason": "left it on the bus"}, customer.token)
    assert (held["card"]["status"], held["card"]["blockReason"]) == ("BLOCKED", "HOLDER")
    assert held["card"]["blockedAt"] is not None
    again = await ok(api, "blockCard", {"cardId": card}, admin.token)  # already blocked: it stays the holder's
    assert again["card"]["blockReason"] == "HOLDER"
    lifted = await ok(api, "unblockCard", {"cardId": card}, customer.token)
    assert (lifted["card"]["status"], lifted["card"]["blockReason"], lifted["card"]["blockedAt"]) == (
        "ACTIVE", None, None)

    by_admin = await ok(api, "blockCard", {"cardId": card}, admin.token)
    assert by_admin["card"]["blockReason"] == "ADMINISTRATOR"
    before = await snapshot(services)
    assert code_of(await call(api, "unblockCard", {"cardId": card}, customer.token)) == "FORBIDDEN"
    assert code_of(await call(api, "unblockCard", {"cardId": card}, tenant[Role.ACCOUNTANT].token)) == "FORBIDDEN"
    assert await snapshot(services) == before
    await ok(api, "unblockCard", {"cardId": card}, admin.token)

    for reason in (CardBlockReason.PIN, CardBlockReason.MISUSE, CardBlockReason.OPERATOR):
        await set_block(services, card, reason)
        before = await snapshot(services)
        for caller in (customer, admin):
            assert code_of(await call(api, "unblockCard", {"cardId": card}, caller.token)) == "FORBIDDEN", reason
        assert await snapshot(services) == before
        result = await ok(api, "unblockCard", {"cardId": card}, staff.token)
        assert result["card"]["status"] == "ACTIVE"
        [row] = await card_rows(services, Card.id == decode_id(card, "Card"))
        assert row.failed_pin_attempts == 0 and row.block_reason is None
    entries = await count(services, AuditEntry, AuditEntry.entity == "card", AuditEntry.action.in_(
        ("block", "unblock")))
    assert entries == 2 + 2 + 3


async def test_block_all_cards_blocks_every_active_card_of_the_account_at_once(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER, Role.MANAGER])
    other = await api.tenant([Role.ADMIN])
    admin, customer, manager = tenant[Role.ADMIN], tenant[Role.CUSTOMER], tenant[Role.MANAGER]
    active = [(await order_via_api(api, admin, holder))["card"]["id"] for holder in (admin, customer, manager)]
    held = (await order_via_api(api, admin, customer))["card"]["id"]
    await ok(api, "blockCard", {"cardId": held}, customer.token)
    gone = (await order_via_api(api, admin, customer))["card"]["id"]
    await ok(api, "cancelCard", {"cardId": gone}, admin.token)
    elsewhere = (await order_via_api(api, other[Role.ADMIN], other[Role.ADMIN]))["card"]["id"]
    before = await snapshot(services)
    for role in (Role.CUSTOMER, Role.MANAGER):
        assert code_of(await call(api, "blockAllCards", {}, tenant[role].token)) == "FORBIDDEN"
    assert await snapshot(services) == before

    result = await ok(api, "blockAllCards", {"reason": "card data stolen"}, admin.token)

    assert result["blockedCount"] == 3
    states = {card["id"]: (card["status"], card["blockReason"]) for card in await list_cards(api, admin.token)}
    assert states == {**{gid: ("BLOCKED", "ADMINISTRATOR") for gid in active}, held: ("BLOCKED", "HOLDER"),
                      gone: ("CANCELLED", None)}
    assert [card["status"] for card in await list_cards(api, other[Role.ADMIN].token)] == ["ACTIVE"]
    assert elsewhere not in states
    assert (await ok(api, "blockAllCards", {}, admin.token))["blockedCount"] == 0


async def test_a_cancelled_card_never_comes_back(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin, customer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]
    staff = await operator(api)
    card = (await order_via_api(api, admin, customer))["card"]["id"]
    assert code_of(await call(api, "cancelCard", {"cardId": card}, customer.token)) == "FORBIDDEN"
    await ok(api, "blockCard", {"cardId": card}, customer.token)
    cancelled = await ok(api, "cancelCard", {"cardId": card}, admin.token)
    assert cancelled["card"]["status"] == "CANCELLED"
    before = await snapshot(services)
    for name, token in (("cancelCard", admin.token), ("blockCard", admin.token), ("unblockCard", admin.token),
                        ("unblockCard", staff.token), ("unblockCard", customer.token)):
        assert code_of(await call(api, name, {"cardId": card}, token)) == "INVALID_STATE", name
    assert await snapshot(services) == before


async def test_who_sees_which_cards(api, services):
    tenant = await api.tenant(list(Role))
    other = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin, customer, manager = tenant[Role.ADMIN], tenant[Role.CUSTOMER], tenant[Role.MANAGER]
    mine = (await order_via_api(api, admin, customer, "1000.00"))["card"]["id"]
    managers = (await order_via_api(api, admin, manager))["card"]["id"]
    await ok(api, "blockCard", {"cardId": managers}, manager.token)
    foreign = (await order_via_api(api, other[Role.ADMIN], other[Role.CUSTOMER]))["card"]["id"]
    async with services.db.transaction() as session:
        session.add(CardMonthlySpend(card_id=decode_id(mine, "Card"), month=utcnow().date().replace(day=1),
                                     spent_minor=250_00))

    def ids(cards: list[dict]) -> list[str]:
        return [card["id"] for card in cards]

    for role in (Role.ADMIN, Role.ACCOUNTANT):
        assert ids(await list_cards(api, tenant[role].token)) == [mine, managers]
        assert ids(await list_cards(api, tenant[role].token, {"holderId": manager.gid})) == [managers]
        assert ids(await list_cards(api, tenant[role].token, {"status": "BLOCKED"})) == [managers]
    [own] = await list_cards(api, customer.token)
    assert (own["id"], own["spentThisMonth"], own["remainingThisMonth"]) == (
        mine, {"amount": "250.00"}, {"amount": "750.00"})
    assert ids(await list_cards(api, customer.token, {"holderId": manager.gid})) == []
    assert ids(await list_cards(api, manager.token)) == [managers]
    assert ids(await list_cards(api, tenant[Role.ORDER_APPROVER].token)) == []
    node = "query($id: ID!) { node(id: $id) { ... on Card { id last4 } } }"
    for token, card, seen in ((customer.token, mine, True), (customer.token, managers, False),
                              (tenant[Role.ACCOUNTANT].token, managers, True), (admin.token, foreign, False)):
        answer = (await api.query(node, {"id": card}, token))["node"]
        assert (answer is not None) == seen, (card, seen)
    assert "errors" in await api.raw("{ cards { edges { node { id } } } }")
