"""Card authorisations under concurrency, on SQLite and (with TEST_DATABASE_URL) PostgreSQL: fifty concurrent
requests through the ASGI app against room for ten (the card's month, the account's credit, the holder's monthly
limit) give exactly ten approvals, and concurrent wrong PINs are counted exactly. A monitor reads the guarded row
(committed data) while the race runs, so "never over the limit" holds during it, not only at the end."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from models import Card, CardMonthlySpend, CardPurchase, CreditAccount, MemberMonthlySpend, Role
from tests.factories import create_member, operator
from tests.schema.card_purchase_helpers import authorize, card_state, insert_card, member_month, outcome, outstanding
from tests.schema.test_spend_concurrency import Monitor
from tests.spend_helpers import ok

REQUESTS = 50
ROOM_FOR = 10
PRICE = 100_00


async def _race(api, token: str, numbers: list[str]) -> Counter:
    results = await asyncio.gather(*(authorize(api, token, numbers[n % len(numbers)], "100.00")
                                     for n in range(REQUESTS)))
    return Counter(outcome(r) for r in results)


async def _approved_sum(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.coalesce(func.sum(CardPurchase.amount_minor), 0)).where(
            CardPurchase.company_id == company_id, CardPurchase.status == "approved"))


async def test_fifty_purchases_race_for_a_card_month_with_room_for_ten(api, services):
    tenant = await api.tenant([Role.CUSTOMER])
    op = await operator(api)
    holder = tenant[Role.CUSTOMER]
    card_id, number = await insert_card(services, tenant.company_id, holder.membership_id,
                                        monthly_limit_minor=ROOM_FOR * PRICE)
    monitor = Monitor(services, lambda s: s.scalar(select(func.max(CardMonthlySpend.spent_minor)).where(
        CardMonthlySpend.card_id == card_id)))
    result = await monitor.around(_race(api, op.token, [number]))
    assert result == Counter({"APPROVED": ROOM_FOR, "CARD_LIMIT_EXCEEDED": REQUESTS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    assert (await card_state(services, card_id))[3] == ROOM_FOR * PRICE
    assert await member_month(services, holder.membership_id) == ROOM_FOR * PRICE  # nothing of a decline stayed
    assert await outstanding(services, tenant.company_id) == ROOM_FOR * PRICE
    assert await _approved_sum(services, tenant.company_id) == ROOM_FOR * PRICE


async def test_fifty_purchases_on_ten_cards_race_for_the_account_credit_with_room_for_ten(api, services):
    tenant = await api.tenant([Role.CUSTOMER])
    op = await operator(api)
    await ok(api, "setCreditLimit", {"companyId": tenant.gid, "creditLimit": f"{ROOM_FOR * PRICE // 100}.00"},
             op.token)
    numbers = []
    for _ in range(10):  # ten holders, so that no card's or holder's row serializes the race before the credit
        holder = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER)
        numbers.append((await insert_card(services, tenant.company_id, holder.membership_id))[1])
    monitor = Monitor(services, lambda s: s.scalar(select(CreditAccount.outstanding_minor).where(
        CreditAccount.company_id == tenant.company_id)))
    result = await monitor.around(_race(api, op.token, numbers))
    assert result == Counter({"APPROVED": ROOM_FOR, "CREDIT_LIMIT_EXCEEDED": REQUESTS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    assert await outstanding(services, tenant.company_id) == ROOM_FOR * PRICE
    async with services.db.read_sessions() as session:
        spent = await session.scalar(select(func.sum(CardMonthlySpend.spent_minor)).where(
            CardMonthlySpend.card_id.in_(select(Card.id).where(Card.company_id == tenant.company_id))))
    assert spent == ROOM_FOR * PRICE == await _approved_sum(services, tenant.company_id)


async def test_fifty_purchases_on_five_cards_race_for_the_holder_monthly_limit_with_room_for_ten(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    holder = tenant[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": holder.gid, "perMonth": f"{ROOM_FOR * PRICE // 100}.00"},
             tenant[Role.ADMIN].token)
    numbers = [(await insert_card(services, tenant.company_id, holder.membership_id))[1] for _ in range(5)]
    monitor = Monitor(services, lambda s: s.scalar(select(MemberMonthlySpend.committed_minor).where(
        MemberMonthlySpend.membership_id == holder.membership_id)))
    result = await monitor.around(_race(api, op.token, numbers))
    assert result == Counter({"APPROVED": ROOM_FOR, "MONTHLY_LIMIT_EXCEEDED": REQUESTS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    assert await member_month(services, holder.membership_id) == ROOM_FOR * PRICE
    assert await outstanding(services, tenant.company_id) == ROOM_FOR * PRICE


async def test_concurrent_wrong_pins_are_counted_exactly(api, services):
    tenant = await api.tenant([Role.CUSTOMER])
    op = await operator(api)
    card_id, number = await insert_card(services, tenant.company_id, tenant[Role.CUSTOMER].membership_id)
    results = await asyncio.gather(*(authorize(api, op.token, number, "1.00", pin="9999") for _ in range(20)))
    assert Counter(outcome(r) for r in results) == Counter({"WRONG_PIN": 2, "CARD_BLOCKED_PIN": 18})
    assert (await card_state(services, card_id))[:3] == ("blocked", "pin", 3)
