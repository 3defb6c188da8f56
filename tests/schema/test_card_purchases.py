"""authorizeCardPurchase, refundCardPurchase and cardPurchases on SQLite and (with TEST_DATABASE_URL) PostgreSQL:
each decline code, the PIN counter, idempotency, refunds, and who may do and read what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import AuditEntry, CardPurchase, CardRefund, Membership, Role
from models.base import utcnow
from schema.relay import to_global_id
from tests.factories import operator
from tests.schema.card_purchase_helpers import (
    authorize,
    card_gid,
    card_state,
    insert_card,
    key,
    list_purchases,
    member_month,
    outcome,
    outstanding,
    refund,
)
from tests.spend_helpers import ok


async def _setup(api, **card):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER, Role.ACCOUNTANT, Role.ORDER_APPROVER])
    op = await operator(api)
    holder = tenant[Role.CUSTOMER]
    card_id, number = await insert_card(api.services, tenant.company_id, holder.membership_id, **card)
    return tenant, op, holder, card_id, number


async def _purchases(services) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(CardPurchase))


async def test_an_approved_purchase_takes_the_card_month_the_holder_month_and_the_credit(api, services):
    tenant, op, holder, card_id, number = await _setup(api, monthly_limit_minor=1_000_00)
    result = await authorize(api, op.token, number, "250.00", store="Coop Mega Storo / 1234", vat_rate=15)
    assert outcome(result) == "APPROVED" and result["replayed"] is False
    purchase = result["purchase"]
    assert purchase["message"] == "Approved" and purchase["declineCode"] is None
    assert purchase["amount"] == {"amount": "250.00", "currency": "NOK"} and purchase["vatRate"] == 15
    assert purchase["cardId"] == card_gid(card_id) and purchase["cardLast4"] == number[-4:]
    assert purchase["holderId"] == holder.gid and purchase["storeReference"] == "Coop Mega Storo / 1234"
    assert result["remainingThisMonth"] == {"amount": "750.00"} and result["pinAttemptsLeft"] == 3
    assert (await card_state(services, card_id))[3] == 250_00
    assert await member_month(services, holder.membership_id) == 250_00
    assert await outstanding(services, tenant.company_id) == 250_00


async def test_an_unknown_number_is_declined_and_recorded_without_a_company(api, services):
    op = await operator(api)
    result = await authorize(api, op.token, "9901000000000000", "10.00")
    assert outcome(result) == "UNKNOWN_CARD"
    assert result["purchase"]["cardId"] is None and result["remainingThisMonth"] is None
    async with services.db.read_sessions() as session:
        row = await session.scalar(select(CardPurchase))
    assert row.company_id is None and row.status == "declined" and row.decline_code == "unknown_card"


@pytest.mark.parametrize(("card", "code"), [
    ({"status": "blocked", "block_reason": "holder"}, "CARD_BLOCKED"),
    ({"status": "blocked", "block_reason": "pin"}, "CARD_BLOCKED_PIN"),
    ({"status": "cancelled"}, "CARD_CANCELLED"),
    ({"pin": None}, "PIN_NOT_SET"),
])
async def test_a_card_that_cannot_pay_is_declined_at_once(api, services, card, code):
    tenant, op, _holder, card_id, number = await _setup(api, **card)
    result = await authorize(api, op.token, number, "10.00")
    assert outcome(result) == code
    assert result["purchase"]["status"] == "DECLINED" and result["purchase"]["message"]
    assert await outstanding(services, tenant.company_id) == 0
    assert (await card_state(services, card_id))[2:] == (0, 0)  # no PIN counted, nothing spent


async def test_an_expired_card_is_declined(api, services):
    _, op, _, _card_id, number = await _setup(api, expires_on=utcnow().date() - timedelta(days=1))
    assert outcome(await authorize(api, op.token, number, "10.00")) == "CARD_EXPIRED"


async def test_three_wrong_pins_in_a_row_block_the_card_and_a_right_one_resets_the_count(api, services):
    _, op, _, card_id, number = await _setup(api)
    first = await authorize(api, op.token, number, "10.00", pin="0000")
    assert outcome(first) == "WRONG_PIN" and first["pinAttemptsLeft"] == 2
    second = await authorize(api, op.token, number, "10.00", pin="0000")
    assert outcome(second) == "WRONG_PIN" and second["pinAttemptsLeft"] == 1
    assert outcome(await authorize(api, op.token, number, "10.00")) == "APPROVED"  # the right PIN resets
    assert (await card_state(services, card_id))[2] == 0
    for left in (2, 1):
        assert (await authorize(api, op.token, number, "10.00", pin="1111"))["pinAttemptsLeft"] == left
    third = await authorize(api, op.token, number, "10.00", pin="1111")
    assert outcome(third) == "CARD_BLOCKED_PIN" and third["pinAttemptsLeft"] == 0
    assert (await card_state(services, card_id))[:3] == ("blocked", "pin", 3)
    # Blocked: refused at once, with the right PIN too; the counter stays.
    assert outcome(await authorize(api, op.token, number, "10.00")) == "CARD_BLOCKED_PIN"
    assert (await card_state(services, card_id)) == ("blocked", "pin", 3, 10_00)


async def test_the_card_monthly_limit_declines_and_takes_nothing(api, services):
    tenant, op, holder, card_id, number = await _setup(api, monthly_limit_minor=100_00)
    assert outcome(await authorize(api, op.token, number, "60.00")) == "APPROVED"
    result = await authorize(api, op.token, number, "40.01")
    assert outcome(result) == "CARD_LIMIT_EXCEEDED" and result["remainingThisMonth"] == {"amount": "40.00"}
    assert (await card_state(services, card_id))[3] == 60_00
    assert await member_month(services, holder.membership_id) == 60_00
    assert await outstanding(services, tenant.company_id) == 60_00
    assert outcome(await authorize(api, op.token, number, "40.00")) == "APPROVED"


async def test_the_holder_purchase_limits_decline(api, services):
    tenant, op, holder, card_id, number = await _setup(api)
    admin = tenant[Role.ADMIN]
    await ok(api, "setPurchaseLimit", {"userId": holder.gid, "perOrder": "100.00", "perMonth": "150.00"},
             admin.token)
    assert outcome(await authorize(api, op.token, number, "100.01")) == "PURCHASE_LIMIT_EXCEEDED"
    assert outcome(await authorize(api, op.token, number, "100.00")) == "APPROVED"
    assert outcome(await authorize(api, op.token, number, "50.01")) == "MONTHLY_LIMIT_EXCEEDED"
    assert (await card_state(services, card_id))[3] == 100_00  # the card's month given back with the refusal
    assert await member_month(services, holder.membership_id) == 100_00
    assert await outstanding(services, tenant.company_id) == 100_00


async def test_the_account_credit_declines(api, services):
    tenant, op, holder, card_id, number = await _setup(api)
    await ok(api, "setCreditLimit", {"companyId": tenant.gid, "creditLimit": "100.00"}, op.token)
    assert outcome(await authorize(api, op.token, number, "100.01")) == "CREDIT_LIMIT_EXCEEDED"
    assert (await card_state(services, card_id))[3] == 0
    assert await member_month(services, holder.membership_id) == 0
    assert outcome(await authorize(api, op.token, number, "100.00")) == "APPROVED"


async def test_a_deactivated_holder_is_declined(api, services):
    _tenant, op, holder, _card_id, number = await _setup(api)
    async with services.db.transaction() as session:
        (await session.get(Membership, holder.membership_id)).status = "deactivated"
    assert outcome(await authorize(api, op.token, number, "10.00")) == "HOLDER_INACTIVE"


async def test_the_same_key_gives_the_same_answer_and_another_request_with_it_is_refused(api, services):
    _tenant, op, _, card_id, number = await _setup(api, monthly_limit_minor=100_00)
    k = key()
    first = await authorize(api, op.token, number, "80.00", idempotency_key=k, store="S1")
    again = await authorize(api, op.token, number, "80.00", idempotency_key=k, store="S1")
    assert again["replayed"] is True and again["purchase"] == first["purchase"]
    assert (await card_state(services, card_id))[3] == 80_00 and await _purchases(services) == 1
    for changed in ({"amount": "80.01"}, {"store": "S2"}):
        args = {"amount": "80.00", "store": "S1"} | changed
        result = await authorize(api, op.token, number, args["amount"], idempotency_key=k, store=args["store"])
        assert outcome(result) == "IDEMPOTENCY_KEY_REUSED"
    # A wrong PIN's answer is stored too: its retry does not count another wrong PIN.
    wrong = key()
    await authorize(api, op.token, number, "1.00", pin="0000", idempotency_key=wrong, store="S3")
    retry = await authorize(api, op.token, number, "1.00", pin="0000", idempotency_key=wrong, store="S3")
    assert outcome(retry) == "WRONG_PIN" and retry["replayed"] is True
    assert (await card_state(services, card_id))[2] == 1


async def test_invalid_input_changes_nothing(api, services):
    _, op, _, _card_id, number = await _setup(api)
    cases = [({"amount": "0"}, "amount"), ({"amount": "-5.00"}, "amount"), ({"amount": "1.001"}, "amount"),
             ({"idempotency_key": "short"}, "idempotencyKey"), ({"store": " "}, "storeReference"),
             ({"vat_rate": 17}, "vatRate")]
    for change, field in cases:
        args = {"amount": "10.00"} | change
        amount = args.pop("amount")
        result = await authorize(api, op.token, number, amount, **args)
        assert (result["__typename"], result["code"], result["field"]) == ("MutationError", "INVALID_INPUT", field)
    assert await _purchases(services) == 0


@pytest.mark.parametrize("role", [Role.ADMIN, Role.CUSTOMER, Role.ACCOUNTANT, Role.ORDER_APPROVER])
async def test_only_operators_authorize_and_refund(api, services, role):
    tenant, op, _, card_id, number = await _setup(api)
    token = tenant[role].token
    assert outcome(await authorize(api, token, number, "10.00", pin="0000")) == "FORBIDDEN"
    assert outcome(await authorize(api, None, number, "10.00")) == "UNAUTHENTICATED"
    assert await _purchases(services) == 0 and (await card_state(services, card_id))[2] == 0
    approved = await authorize(api, op.token, number, "10.00")
    assert (await refund(api, token, approved["purchase"]["id"], "1.00"))["code"] == "FORBIDDEN"
    assert (await card_state(services, card_id))[3] == 10_00


async def test_a_refund_gives_back_what_the_purchase_took_once(api, services):
    tenant, op, holder, card_id, number = await _setup(api, monthly_limit_minor=100_00)
    purchase = (await authorize(api, op.token, number, "100.00"))["purchase"]
    k = key()
    first = await refund(api, op.token, purchase["id"], "30.00", idempotency_key=k, reason="Returned milk")
    assert first["__typename"] == "CardRefundPayload" and first["replayed"] is False
    assert first["purchase"]["refunded"] == {"amount": "30.00"} and first["purchase"]["refundable"] == {
        "amount": "70.00"}
    again = await refund(api, op.token, purchase["id"], "30.00", idempotency_key=k)
    assert again["replayed"] is True and again["refund"] == first["refund"]
    assert (await refund(api, op.token, purchase["id"], "31.00", idempotency_key=k))["code"] == (
        "IDEMPOTENCY_KEY_REUSED")
    assert (await card_state(services, card_id))[3] == 70_00
    assert await member_month(services, holder.membership_id) == 70_00
    assert await outstanding(services, tenant.company_id) == 70_00
    over = await refund(api, op.token, purchase["id"], "70.01")
    assert (over["code"], over["field"]) == ("INVALID_INPUT", "amount")
    assert outcome(await authorize(api, op.token, number, "30.00")) == "APPROVED"  # the card has room again
    rest = await refund(api, op.token, purchase["id"], "70.00")
    assert rest["purchase"]["refundable"] == {"amount": "0.00"}
    async with services.db.read_sessions() as session:
        refunds = await session.scalar(select(func.count()).select_from(CardRefund))
        audited = await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "card_purchase", AuditEntry.action == "refund",
            AuditEntry.company_id == tenant.company_id))
    assert refunds == audited == 2


async def test_a_declined_purchase_is_not_refunded(api, services):
    _, op, _, _, number = await _setup(api)
    declined = await authorize(api, op.token, number, "10.00", pin="0000")
    result = await refund(api, op.token, declined["purchase"]["id"], "1.00")
    assert result["code"] == "INVALID_STATE"
    missing = await refund(api, op.token, to_global_id("CardPurchase", 999_999), "1.00")
    assert (missing["code"], missing["field"]) == ("NOT_FOUND", "purchaseId")


async def test_who_reads_which_purchases(api, services):
    tenant, op, holder, card_id, number = await _setup(api)
    other = await api.tenant([Role.CUSTOMER])
    admin_card, admin_number = await insert_card(services, tenant.company_id, tenant[Role.ADMIN].membership_id)
    await insert_card(services, other.company_id, other[Role.CUSTOMER].membership_id)
    await authorize(api, op.token, number, "10.00")
    await authorize(api, op.token, number, "10.00", pin="0000")
    await authorize(api, op.token, admin_number, "20.00")

    def amounts(page):
        return sorted(edge["node"]["amount"]["amount"] for edge in page["edges"])

    for role in (Role.ADMIN, Role.ACCOUNTANT):
        assert amounts(await list_purchases(api, tenant[role].token)) == ["10.00", "10.00", "20.00"]
    assert amounts(await list_purchases(api, holder.token)) == ["10.00", "10.00"]
    assert amounts(await list_purchases(api, tenant[Role.ORDER_APPROVER].token)) == []
    assert amounts(await list_purchases(api, other[Role.CUSTOMER].token)) == []
    assert amounts(await list_purchases(api, holder.token, {"cardId": card_gid(admin_card)})) == []
    page = await list_purchases(api, tenant[Role.ADMIN].token, {"status": "APPROVED"})
    assert amounts(page) == ["10.00", "20.00"]
    assert amounts(await list_purchases(api, tenant[Role.ADMIN].token, {"cardId": card_gid(card_id)})) == [
        "10.00", "10.00"]
    assert amounts(await list_purchases(api, op.token, {"companyId": tenant.gid})) == ["10.00", "10.00", "20.00"]
    assert amounts(await list_purchases(api, op.token, {"companyId": other.gid})) == []
    assert (await list_purchases(api, op.token))["code"] == "INVALID_INPUT"
    assert (await list_purchases(api, holder.token, {"companyId": other.gid}))["code"] == "INVALID_INPUT"
    today = utcnow().date()
    assert amounts(await list_purchases(api, holder.token, {"from": str(today + timedelta(days=1))})) == []
    assert len((await list_purchases(api, holder.token, {"from": str(today), "to": str(today)}))["edges"]) == 2


async def test_pages_follow_each_other_newest_first(api, services):
    tenant, op, _, _, number = await _setup(api)
    for amount in ("1.00", "2.00", "3.00"):
        await authorize(api, op.token, number, amount)
    token = tenant[Role.ADMIN].token
    first = await list_purchases(api, token, first=2)
    assert [e["node"]["amount"]["amount"] for e in first["edges"]] == ["3.00", "2.00"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await list_purchases(api, token, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["amount"]["amount"] for e in rest["edges"]] == ["1.00"]
    assert (await list_purchases(api, token, after="nonsense"))["code"] == "INVALID_INPUT"


async def test_a_purchase_by_node_id_for_those_who_may_read_it(api, services):
    tenant, op, holder, _, number = await _setup(api)
    purchase_id = (await authorize(api, op.token, number, "10.00"))["purchase"]["id"]
    query = "query($id: ID!) { node(id: $id) { ... on CardPurchase { id amount { amount } } } }"
    for token in (holder.token, tenant[Role.ADMIN].token, op.token):
        assert (await api.query(query, {"id": purchase_id}, token))["node"]["id"] == purchase_id
    assert (await api.query(query, {"id": purchase_id}, tenant[Role.ORDER_APPROVER].token))["node"] is None
