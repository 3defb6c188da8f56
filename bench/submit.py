"""Order submissions per second on PostgreSQL, through the ASGI app, with and without a shared budget row.

    .venv/bin/python bench/submit.py [--buyers 20] [--carts 25] [--concurrency 10]
                                     [--database-url postgresql+asyncpg://root@127.0.0.1:5432]

Each buyer (a customer with a default cost centre, paying by card) fills and submits M carts:
`addToCart` (one product, quantity 1) then `submitOrder` (a fresh idempotency key), both as
GraphQL mutations POSTed through the real ASGI app (httpx.ASGITransport, app.create_app, a
real access token per buyer). C coroutines share the work: each takes the next buyer and
submits that buyer's carts one after the other (a buyer has one cart at a time), so at most
C submissions are in flight. No approval rules: every order is approved at submission.

Scenarios, each with its own companies in one fresh database (procura_bench_submit):
  shared budget   one company; one BLOCK budget on the buyers' common group, so every
                  submission takes the row lock of the same budget_usage row;
  budget per buyer one company; one BLOCK budget per buyer (no shared budget row); the
                  company's order-number counter and credit account are still shared;
  company per buyer reference: every buyer in a company of their own with their own BLOCK
                  budget, so no row at all is shared by two buyers.
Budgets and credit are large enough never to refuse an order: the guards run, they don't block.

Printed per scenario: orders/s (submitted orders over the wall time of the whole run, carts
included), p50/p95 latency of submitOrder and of a whole cart (add + submit), and the
checks that every order was approved and the budget rows hold exactly the orders' total.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx

from bench._common import (
    DEFAULT_SERVER_URL,
    AsgiTimer,
    asyncpg_dsn,
    bench_settings,
    create_database,
    database_url,
    issue_token,
    median,
    migrate,
    percentile,
)

DATABASE = "procura_bench_submit"
PRICE_MINOR = 100_00  # 100.00 NOK, VAT 25%: 125.00 a cart
GROSS_MINOR = 125_00
UNLIMITED = 2_000_000_000  # minor units; the columns are 32-bit integers
ADD = """mutation($input: AddToCartInput!) { addToCart(input: $input) {
  __typename ... on OrderPayload { order { id lines { quantity } } } ... on MutationError { code message } } }"""
SUBMIT = """mutation($input: SubmitOrderInput!) { submitOrder(input: $input) {
  __typename ... on OrderPayload { order { id number status totals { gross { amount } } } }
  ... on MutationError { code message } } }"""


@dataclass
class Buyer:
    membership_id: int
    user_id: int
    company_id: int
    token: str = ""


@dataclass
class Outcome:
    name: str
    orders: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    submit_ms: list[float] = field(default_factory=list)
    cycle_ms: list[float] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


async def setup_scenario(
    services, name: str, *, buyers: int, company_per_buyer: bool, shared_budget: bool
) -> tuple[list[Buyer], list[int]]:
    """Companies, the buyers with their group and default cost centre, one product, budgets.
    Returns buyers and budget ids."""
    from models import Budget, Company, CostCentre, Group, MemberCostCentre, Membership, Product, User
    from models.budget import BudgetAction, BudgetOwner, BudgetPeriod

    result, budget_ids = [], []
    async with services.db.transaction() as session:
        product = await session.get(Product, 1)
        if product is None:
            session.add(Product(id=1, sku="BENCH-1", name="Bench product", description="", unit="pcs", category="Bench",
                                unit_price_minor=PRICE_MINOR, currency="NOK", vat_rate=25, active=True,
                                search_text="bench-1 bench product"))
            await session.flush()
        companies = buyers if company_per_buyer else 1
        places = []
        for index in range(companies):
            company = Company(name=f"{name} {index + 1} AS", country="NO", org_number="923609016", currency="NOK",
                              street="Storgata 1", postal_code="0150", city="Oslo", contact_email="post@bench.example")
            session.add(company)
            await session.flush()
            group = Group(company_id=company.id, name="Buyers")
            centre = CostCentre(company_id=company.id, name="Main", code="CC-1", street="Storgata 1",
                                postal_code="0150", city="Oslo")
            session.add_all([group, centre])
            await session.flush()
            places.append((company, group, centre))
        for index in range(buyers):
            company, group, centre = places[index % len(places)]
            user = User(email=f"{name.replace(' ', '-')}-{index}-{uuid.uuid4().hex[:8]}@bench.example",
                        first_name="Buyer", last_name=str(index), password_hash=None)
            session.add(user)
            await session.flush()
            member = Membership(company_id=company.id, user_id=user.id, group_id=group.id, role="customer",
                                status="active", payment_methods=["card"])
            session.add(member)
            await session.flush()
            session.add(MemberCostCentre(membership_id=member.id, cost_centre_id=centre.id, is_default=True))
            result.append(Buyer(member.id, user.id, company.id))
        owners = ([(places[0][0].id, BudgetOwner.GROUP, places[0][1].id)] if shared_budget
                  else [(b.company_id, BudgetOwner.USER, b.membership_id) for b in result])
        for company_id, owner_type, owner_id in owners:
            budget = Budget(company_id=company_id, name=f"{name} {owner_type.value} {owner_id}",
                            owner_type=owner_type.value, owner_id=owner_id, period=BudgetPeriod.MONTHLY.value,
                            amount_minor=UNLIMITED, action=BudgetAction.BLOCK.value, active=True)
            session.add(budget)
            await session.flush()
            budget_ids.append(budget.id)
    for buyer in result:
        buyer.token = await issue_token(services, user_id=buyer.user_id, membership_id=buyer.membership_id)
    return result, budget_ids


async def gql(client: httpx.AsyncClient, token: str, query: str, variables: dict) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables},
                                 headers={"authorization": f"Bearer {token}"})
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"HTTP {response.status_code}: {body}")
    return body["data"]


async def run_scenario(client, outcome: Outcome, buyers: list[Buyer], *, carts: int, concurrency: int) -> None:
    queue: asyncio.Queue[Buyer] = asyncio.Queue()
    for buyer in buyers:
        queue.put_nowait(buyer)

    async def worker() -> None:
        while True:
            try:
                buyer = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for _ in range(carts):
                started = time.perf_counter_ns()
                added = (await gql(client, buyer.token, ADD, {"input": {"sku": "BENCH-1", "quantity": 1}}))["addToCart"]
                if added["__typename"] != "OrderPayload":
                    outcome.failures.append(f"addToCart: {added}")
                    continue
                submit_started = time.perf_counter_ns()
                result = (await gql(client, buyer.token, SUBMIT,
                                    {"input": {"idempotencyKey": uuid.uuid4().hex}}))["submitOrder"]
                ended = time.perf_counter_ns()
                if result["__typename"] != "OrderPayload":
                    outcome.failures.append(f"submitOrder: {result}")
                    continue
                outcome.orders += 1
                outcome.submit_ms.append((ended - submit_started) / 1e6)
                outcome.cycle_ms.append((ended - started) / 1e6)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    outcome.seconds = time.perf_counter() - started


async def verify(dsn: str, outcome: Outcome, buyers: list[Buyer], budget_ids: list[int], expected: int) -> None:
    """Every order approved; each budget's usage equals the orders it covers; credit and counters agree."""
    connection = await asyncpg.connect(dsn)
    try:
        members = [b.membership_id for b in buyers]
        companies = sorted({b.company_id for b in buyers})
        statuses = dict(await connection.fetch(
            "SELECT status, count(*) FROM orders WHERE buyer_id = ANY($1::int[]) GROUP BY status", members))
        used = await connection.fetchval("SELECT coalesce(sum(committed_minor), 0) FROM budget_usage "
                                         "WHERE budget_id = ANY($1::int[]) AND period_start = $2",
                                         budget_ids, date.today().replace(day=1))
        credit = await connection.fetchval("SELECT coalesce(sum(outstanding_minor), 0) FROM credit_accounts "
                                           "WHERE company_id = ANY($1::int[])", companies)
        numbers = await connection.fetchval("SELECT count(DISTINCT (company_id, number)) FROM orders "
                                            "WHERE buyer_id = ANY($1::int[]) AND number IS NOT NULL", members)
    finally:
        await connection.close()
    ok = (statuses == {"approved": expected} and used == expected * GROSS_MINOR and credit == expected * GROSS_MINOR
          and numbers == expected)
    outcome.checks.append(f"{'ok' if ok else 'MISMATCH'}: {statuses}, budget usage {used / 100:,.2f}, "
                          f"credit outstanding {credit / 100:,.2f}, {numbers} distinct numbers")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=20)
    parser.add_argument("--carts", type=int, default=25, help="carts submitted per buyer")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--database-url", default=DEFAULT_SERVER_URL,
                        help="PostgreSQL server (SQLAlchemy URL; a database name in it is ignored)")
    args = parser.parse_args()

    from app import create_app

    url = database_url(args.database_url, DATABASE)
    await create_database(args.database_url, DATABASE, drop=True)
    await migrate(url)
    app = create_app(bench_settings(url, default_credit_limit=UNLIMITED))
    services = app.state.services
    timer = AsgiTimer(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=timer, client=("198.51.100.9", 50000)),
                               base_url="http://bench", timeout=120)
    scenarios = [("shared budget", False, True), ("budget per buyer", False, False), ("company per buyer", True, False)]
    outcomes = []
    try:
        # Warm-up: parser/validation caches, prepared statements, the connection pool.
        warm, _ = await setup_scenario(services, "warm-up", buyers=args.concurrency, company_per_buyer=False,
                                                  shared_budget=False)
        await run_scenario(client, Outcome("warm-up"), warm, carts=2, concurrency=args.concurrency)
        for name, per_company, shared in scenarios:
            buyers, budget_ids = await setup_scenario(services, name, buyers=args.buyers, company_per_buyer=per_company,
                                                      shared_budget=shared)
            outcome = Outcome(name)
            await run_scenario(client, outcome, buyers, carts=args.carts, concurrency=args.concurrency)
            await verify(asyncpg_dsn(url), outcome, buyers, budget_ids, args.buyers * args.carts)
            outcomes.append(outcome)
            print(f"  {name}: {outcome.orders} orders in {outcome.seconds:.1f} s", file=sys.stderr)
    finally:
        await client.aclose()
        await services.mailer.drain()
        await services.db.dispose()

    print()
    print(f"Order submission on PostgreSQL through the ASGI app: {args.buyers} buyers x {args.carts} carts "
          f"(addToCart + submitOrder), {args.concurrency} concurrent; latencies in ms")
    print(f"{'scenario':>18} {'orders':>7} {'failed':>6} {'seconds':>8} {'orders/s':>9} {'submit p50':>10} {'p95':>7}"
          f" {'cart p50':>9} {'p95':>7}")
    for o in outcomes:
        print(f"{o.name:>18} {o.orders:>7} {len(o.failures):>6} {o.seconds:>8.2f} {o.orders / o.seconds:>9.1f}"
              f" {median(o.submit_ms):>10.1f} {percentile(o.submit_ms, 0.95):>7.1f}"
              f" {median(o.cycle_ms):>9.1f} {percentile(o.cycle_ms, 0.95):>7.1f}")
    for o in outcomes:
        for check in o.checks:
            print(f"  {o.name}: {check}")
        for failure in o.failures[:5]:
            print(f"  {o.name}: failure {failure}")
    one_budget, own_budgets = outcomes[0], outcomes[1]
    ratio = (one_budget.orders / one_budget.seconds) / (own_budgets.orders / own_budgets.seconds)
    print(f"shared budget row / budget per buyer: {ratio:.2f}x orders/s")


if __name__ == "__main__":
    asyncio.run(main())
