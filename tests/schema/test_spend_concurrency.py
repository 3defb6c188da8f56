"""The core promise of spend control under concurrency, on SQLite and (with TEST_DATABASE_URL)
PostgreSQL: many orders racing for the same budget, purchase-limit month or credit can never
commit more than the limit allows. Each guard is the conditional UPDATE in resolvers/spend.py.

While the race runs, a monitor keeps reading the guarded row (committed data only) and records
the highest value it ever saw, so "never over the limit" is checked during the race, not only
at the end."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from models import BudgetUsage, CreditAccount, MemberMonthlySpend, Membership, Order, OrderCharge, Role
from models.base import utcnow
from models.errors import DomainError
from policies.actor import Actor
from resolvers.context import UseCaseContext
from resolvers.spend import commit_spend
from schema.relay import decode_id
from tests.factories import create_member
from tests.spend_helpers import (
    SpendTenant,
    add_member,
    code_of,
    create_product,
    fill_cart,
    group_budget,
    new_key,
    ok,
    operator,
    orders_of,
    spend_tenant,
    submit,
)

BUYERS = 50
ROOM_FOR = 10
PRICE = 100_00  # gross of one unit: 80.00 net + 25 % VAT
ROOM = f"{ROOM_FOR * PRICE // 100}.00"  # the amount that holds ROOM_FOR units


async def buyers_with_carts(api, st: SpendTenant, count: int) -> list:
    product = await create_product(api.services, net_minor=80_00)
    buyers = []
    for _ in range(count):
        buyer = await add_member(api, st)
        await fill_cart(api, buyer, product)
        buyers.append(buyer)
    return buyers


class Monitor:
    """Reads a value over and over until stopped; remembers the largest."""

    def __init__(self, services, read) -> None:
        self.services, self.read, self.highest, self.reads = services, read, 0, 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            async with self.services.db.read_sessions() as session:
                value = await self.read(session) or 0
            self.highest, self.reads = max(self.highest, value), self.reads + 1
            await asyncio.sleep(0.002)

    async def around(self, work):
        task = asyncio.create_task(self.run())
        try:
            return await work
        finally:
            self._stop.set()
            await task


async def race_submissions(api, buyers) -> Counter:
    results = await asyncio.gather(*(submit(api, buyer, new_key()) for buyer in buyers))
    return Counter(code_of(r) if code_of(r) != "ok" else r["order"]["status"] for r in results)


async def drafts(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(Order).where(
            Order.company_id == company_id, Order.status == "draft"))


async def test_fifty_orders_race_for_a_blocking_budget_with_room_for_ten(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    budget = await group_budget(api, st, ROOM_FOR * PRICE, action="BLOCK", name="Shared")
    budget_id = decode_id(budget["id"], "Budget")
    buyers = await buyers_with_carts(api, st, BUYERS)

    monitor = Monitor(services, lambda s: s.scalar(select(func.max(BudgetUsage.committed_minor)).where(
        BudgetUsage.budget_id == budget_id)))
    outcome = await monitor.around(race_submissions(api, buyers))

    assert outcome == Counter({"APPROVED": ROOM_FOR, "BUDGET_EXCEEDED": BUYERS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    async with services.db.read_sessions() as session:
        committed = await session.scalar(select(BudgetUsage.committed_minor).where(BudgetUsage.budget_id == budget_id))
        charged = await session.scalar(select(func.coalesce(func.sum(OrderCharge.amount_minor), 0)).where(
            OrderCharge.budget_id == budget_id, OrderCharge.released.is_(False)))
    assert committed == charged == ROOM_FOR * PRICE
    assert await orders_of(services, st.company_id) == {"approved": ROOM_FOR}
    assert await drafts(services, st.company_id) == BUYERS - ROOM_FOR  # the refused carts are untouched
    credit = await services_credit(services, st.company_id)
    assert credit == ROOM_FOR * PRICE  # nothing of a refused order stayed behind anywhere


async def services_credit(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(
            select(CreditAccount.outstanding_minor).where(CreditAccount.company_id == company_id))


async def test_fifty_orders_race_for_company_credit_with_room_for_ten(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    op = await operator(api)
    await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": ROOM}, op.token)
    buyers = await buyers_with_carts(api, st, BUYERS)

    monitor = Monitor(services, lambda s: s.scalar(select(CreditAccount.outstanding_minor).where(
        CreditAccount.company_id == st.company_id)))
    outcome = await monitor.around(race_submissions(api, buyers))

    assert outcome == Counter({"APPROVED": ROOM_FOR, "CREDIT_LIMIT_EXCEEDED": BUYERS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    async with services.db.read_sessions() as session:
        account = await session.get(CreditAccount, st.company_id)
        company_orders = select(Order.id).where(Order.company_id == st.company_id)
        charged = await session.scalar(select(func.coalesce(func.sum(OrderCharge.amount_minor), 0)).where(
            OrderCharge.kind == "credit", OrderCharge.order_id.in_(company_orders)))
    assert (account.credit_limit_minor, account.outstanding_minor, charged) == (
        ROOM_FOR * PRICE, ROOM_FOR * PRICE, ROOM_FOR * PRICE)
    assert await orders_of(services, st.company_id) == {"approved": ROOM_FOR}
    assert await drafts(services, st.company_id) == BUYERS - ROOM_FOR


# One level down: the guards themselves, without the rest of submitOrder.
#
# A purchase limit belongs to one buyer, and one buyer has exactly one cart: the API cannot put
# fifty different orders of one buyer in flight at once (concurrent submitOrder calls of one cart
# serialize on the cart row and all but one find it empty, which tests idempotency, not the limit).
# And the API races above only test the budget and credit guards as long as nothing earlier in
# submitOrder serializes a company's submissions (until recently the order-number counter row was
# locked before spend control, and on PostgreSQL that lock alone made a naive guard pass).
#
# So each guard is also raced directly: fifty orders are prepared as submitted orders (of fifty
# buyers for the budget and credit, so that no per-buyer row serializes them first; of one buyer
# for the purchase limit), and fifty concurrent write transactions - each what submitOrder runs
# for spend control, services.db.transaction() around resolvers.spend.commit_spend - take their
# commitment at once; a refused one raises and rolls back, as in the API. Only one guard is tight
# in each test. On PostgreSQL each of these tests, and the two API races above, fail with a
# read-check-write guard (checked while writing them); on SQLite the write transaction
# (BEGIN IMMEDIATE) is itself the serialization the guard relies on.


async def submitted_orders(services, st: SpendTenant, buyer_ids: list[int]) -> list[int]:
    async with services.db.transaction() as session:
        orders = [Order(company_id=st.company_id, buyer_id=buyer_id, group_id=st.group_id, status="submitted",
                        number=f"PO-RACE-{n:03d}", currency="NOK", cost_centre_id=st.centre_id, net_minor=80_00,
                        vat_minor=20_00, gross_minor=PRICE, idempotency_key=f"race-{n:03d}", submitted_at=utcnow())
                  for n, buyer_id in enumerate(buyer_ids)]
        session.add_all(orders)
        await session.flush()
        return [o.id for o in orders]


async def commit_in_own_transaction(services, company_id: int, order_id: int) -> str:
    try:
        async with services.db.transaction() as session:
            order = await session.get_one(Order, order_id)
            buyer = await session.get_one(Membership, order.buyer_id)
            actor = Actor(buyer.user_id, 0, buyer.id, company_id, Role(buyer.role), frozenset(), False)
            ctx = UseCaseContext(services=services, session=session, actor=actor)
            await asyncio.sleep(0)  # let the other transactions start before this one takes its commitment
            await commit_spend(ctx, order, limit_has_approval_route=False, today=utcnow().date())
            await session.flush()
        return "ok"
    except DomainError as error:
        return error.code.value


async def race_commit_spend(api, st: SpendTenant, read, *, distinct_buyers: bool) -> tuple[Counter, Monitor, list[int]]:
    """Fifty submitted orders - of one buyer, or of fifty - take their commitment at once."""
    services = api.services
    if distinct_buyers:
        buyer_ids = [(await create_member(services, st.company_id, st.group_id, Role.CUSTOMER)).membership_id
                     for _ in range(BUYERS)]
    else:
        buyer_ids = [st[Role.CUSTOMER].membership_id] * BUYERS
    order_ids = await submitted_orders(services, st, buyer_ids)
    monitor = Monitor(services, read)
    results = await monitor.around(
        asyncio.gather(*(commit_in_own_transaction(services, st.company_id, i) for i in order_ids)))
    return Counter(results), monitor, order_ids


async def charged(services, order_ids: list[int], kind: str) -> tuple[int, int]:
    """(count, total) of the charges of a kind the orders hold."""
    async with services.db.read_sessions() as session:
        count, total = (await session.execute(
            select(func.count(), func.coalesce(func.sum(OrderCharge.amount_minor), 0)).where(
                OrderCharge.kind == kind, OrderCharge.order_id.in_(order_ids), OrderCharge.released.is_(False)))).one()
        return count, total


async def test_fifty_transactions_race_for_a_blocking_budget_with_room_for_ten(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    budget_id = decode_id((await group_budget(api, st, ROOM_FOR * PRICE, action="BLOCK"))["id"], "Budget")
    outcome, monitor, order_ids = await race_commit_spend(api, st, lambda s: s.scalar(
        select(func.max(BudgetUsage.committed_minor)).where(BudgetUsage.budget_id == budget_id)), distinct_buyers=True)

    assert outcome == Counter({"ok": ROOM_FOR, "BUDGET_EXCEEDED": BUYERS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    async with services.db.read_sessions() as session:
        committed = await session.scalar(select(BudgetUsage.committed_minor).where(BudgetUsage.budget_id == budget_id))
    assert committed == ROOM_FOR * PRICE
    assert await charged(services, order_ids, "budget") == (ROOM_FOR, ROOM_FOR * PRICE)
    assert await charged(services, order_ids, "credit") == (ROOM_FOR, ROOM_FOR * PRICE)  # refused ones held nothing
    assert await services_credit(services, st.company_id) == ROOM_FOR * PRICE


async def test_fifty_transactions_race_for_company_credit_with_room_for_ten(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    op = await operator(api)
    await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": ROOM}, op.token)
    outcome, monitor, order_ids = await race_commit_spend(api, st, lambda s: s.scalar(
        select(CreditAccount.outstanding_minor).where(CreditAccount.company_id == st.company_id)), distinct_buyers=True)

    assert outcome == Counter({"ok": ROOM_FOR, "CREDIT_LIMIT_EXCEEDED": BUYERS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    assert await services_credit(services, st.company_id) == ROOM_FOR * PRICE
    assert await charged(services, order_ids, "credit") == (ROOM_FOR, ROOM_FOR * PRICE)
    assert await charged(services, order_ids, "member_month") == (ROOM_FOR, ROOM_FOR * PRICE)


async def month_used(services, membership_id: int) -> int | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(MemberMonthlySpend.committed_minor).where(
            MemberMonthlySpend.membership_id == membership_id,
            MemberMonthlySpend.month_start == utcnow().date().replace(day=1)))


async def test_fifty_orders_of_one_buyer_race_for_a_monthly_purchase_limit_with_room_for_ten(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perMonth": ROOM}, st[Role.ADMIN].token)
    month = utcnow().date().replace(day=1)
    outcome, monitor, order_ids = await race_commit_spend(api, st, lambda s: s.scalar(
        select(MemberMonthlySpend.committed_minor).where(
            MemberMonthlySpend.membership_id == buyer.membership_id, MemberMonthlySpend.month_start == month)),
        distinct_buyers=False)

    assert outcome == Counter({"ok": ROOM_FOR, "PURCHASE_LIMIT_EXCEEDED": BUYERS - ROOM_FOR})
    assert monitor.reads > 0 and monitor.highest <= ROOM_FOR * PRICE
    async with services.db.read_sessions() as session:
        member = await session.get_one(Membership, buyer.membership_id)
    assert await month_used(services, buyer.membership_id) == ROOM_FOR * PRICE == member.monthly_limit_minor
    assert await charged(services, order_ids, "member_month") == (ROOM_FOR, ROOM_FOR * PRICE)
    assert await services_credit(services, st.company_id) == ROOM_FOR * PRICE  # the refused ones held no credit either
    # And through the API the buyer sees the month as full.
    limit = (await api.query("{ myPurchaseLimit { usedThisMonth { amount } remainingThisMonth { amount } } }",
                             token=buyer.token))["myPurchaseLimit"]
    assert limit == {"usedThisMonth": {"amount": "1000.00"}, "remainingThisMonth": {"amount": "0.00"}}


async def test_retries_of_one_submission_commit_once(api, services):
    """Concurrent retries of one submission (same idempotency key) create one order and take its
    commitment once: budget, month and credit each hold exactly one order's amount."""
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    budget_id = decode_id((await group_budget(api, st, 1000_00, action="BLOCK"))["id"], "Budget")
    await fill_cart(api, buyer, await create_product(services, net_minor=80_00))
    key = new_key()
    results = await asyncio.gather(*(submit(api, buyer, key) for _ in range(8)))
    assert {code_of(r) for r in results} == {"ok"}, results
    assert len({r["order"]["id"] for r in results}) == 1
    assert await orders_of(services, st.company_id) == {"approved": 1}
    async with services.db.read_sessions() as session:
        committed = await session.scalar(select(BudgetUsage.committed_minor).where(BudgetUsage.budget_id == budget_id))
    assert committed == PRICE
    assert await month_used(services, buyer.membership_id) == PRICE
    assert await services_credit(services, st.company_id) == PRICE
    # A later retry still answers with the same order and commits nothing more.
    again = await submit(api, buyer, key)
    assert again["order"]["id"] == results[0]["order"]["id"]
    assert await services_credit(services, st.company_id) == PRICE
