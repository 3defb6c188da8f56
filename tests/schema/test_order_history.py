"""Order history through the API: who sees what, filters, sort orders, keyset pagination, and
the SQL statement budget of a page."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, time, timedelta
from functools import partial

from sqlalchemy import event, select, update

from models import (
    DeliveryLocation,
    DeliverySlot,
    EndCustomer,
    Group,
    Order,
    OrderEvent,
    OrderLine,
    Role,
)
from models.base import utcnow
from tests.factories import error_code
from tests.ordering_helpers import (
    add_buyer,
    add_to_cart,
    approval_rule,
    create_product,
    gid,
    mutate,
    next_weekday,
    operator,
    order_as,
    pk_of,
    place_order,
    shop,
    succeeded,
)

HISTORY = """query($filter: OrderFilter, $orderBy: OrderSort! = SUBMITTED_AT_DESC, $first: Int! = 50, $after: String) {
  orders(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    edges { cursor node { id number status reference poNumber submittedAt totals { gross { amount } } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def history(api, member, **variables) -> dict:
    return (await api.query(HISTORY, variables, member.token))["orders"]


async def numbers(api, member, **variables) -> list[str]:
    return [edge["node"]["number"] for edge in (await history(api, member, **variables))["edges"]]


async def set_submitted(services, order_id: str, when: datetime) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.id == pk_of(order_id)).values(submitted_at=when))


def at(month: int, day: int = 10) -> datetime:
    return datetime(2025, month, day, 12, 0, tzinfo=UTC)


async def end_customer(services, company_id: int, name: str = "Astrid") -> tuple[int, int, int]:
    """A unit with a Tuesday slot and an end customer: (location, slot, end customer) ids."""
    async with services.db.transaction() as session:
        location = DeliveryLocation(company_id=company_id, name="Sunny Hill", street="Solveien 3", postal_code="0870",
                                    city="Oslo")
        session.add(location)
        await session.flush()
        slot = DeliverySlot(location_id=location.id, weekday=1, starts_at=time(8), ends_at=time(10))
        customer = EndCustomer(company_id=company_id, location_id=location.id, name=name, note="Lactose intolerant")
        session.add_all([slot, customer])
        await session.flush()
        return location.id, slot.id, customer.id


async def company_world(api, services):
    """Company A: five orders by four buyers in two groups, one for an end customer, one fulfilled.
    Company B: one order."""
    tenant = await shop(api)
    async with services.db.transaction() as session:
        night = Group(company_id=tenant.company_id, name="Night shift")
        session.add(night)
        await session.flush()
        night_id = night.id
    second = await add_buyer(api, tenant, group_id=night_id, first_name="Second")
    product = await create_product(services, "BOX", 10000, 25)  # 125.00 a box with VAT
    _, slot, astrid = await end_customer(services, tenant.company_id)
    customer, manager, admin = tenant[Role.CUSTOMER], tenant[Role.MANAGER], tenant[Role.ADMIN]
    o1 = await place_order(api, customer, [(product, 1)], reference="Ward 3 re-invoice", poNumber="PO-A")
    o2 = await place_order(api, customer, [(product, 3)], reference="Kitchen", poNumber="PO-B",
                           endCustomerId=gid("EndCustomer", astrid), deliverySlotId=gid("DeliverySlot", slot),
                           deliveryDate=next_weekday(1).isoformat())
    o3 = await place_order(api, second, [(product, 2)], reference="ward 7")
    o4 = await place_order(api, manager, [(product, 5)])
    o5 = await place_order(api, admin, [(product, 4)], poNumber="PO-BB")
    for month, order in enumerate([o1, o2, o3, o4, o5], start=1):
        await set_submitted(services, order["id"], at(month))
    op = await operator(api)
    succeeded(await mutate(api, "fulfilOrder", "FulfilOrderInput", {"id": o1["id"]}, op.token), "fulfilOrder")
    other = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    theirs = await place_order(api, other[Role.CUSTOMER], [(product, 1)])
    return dict(tenant=tenant, second=second, night=night_id, astrid=astrid, op=op, other=other, theirs=theirs,
                orders=[o1, o2, o3, o4, o5])


async def test_who_sees_which_orders(api, services):
    w = await company_world(api, services)
    tenant, (o1, o2, o3, o4, o5) = w["tenant"], w["orders"]
    n = [o["number"] for o in (o1, o2, o3, o4, o5)]
    assert await numbers(api, tenant[Role.CUSTOMER]) == [n[1], n[0]]
    assert await numbers(api, w["second"]) == [n[2]]
    assert await numbers(api, tenant[Role.MANAGER]) == [n[4], n[3], n[2], n[1], n[0]]
    assert await numbers(api, tenant[Role.ADMIN]) == [n[4], n[3], n[2], n[1], n[0]]
    assert await numbers(api, tenant[Role.ORDER_APPROVER]) == []  # nothing waits for them
    assert await numbers(api, w["other"][Role.CUSTOMER]) == [w["theirs"]["number"]]
    assert len(await numbers(api, w["op"])) == 6  # the platform operator fulfils everyone's orders
    # One order: visible ones by id, others are null - the same answer as for an id that does not exist.
    assert (await order_as(api, tenant[Role.CUSTOMER], o1["id"]))["number"] == n[0]
    assert (await order_as(api, tenant[Role.MANAGER], o3["id"]))["number"] == n[2]
    assert await order_as(api, tenant[Role.CUSTOMER], o3["id"]) is None
    assert await order_as(api, tenant[Role.ORDER_APPROVER], o1["id"]) is None
    assert await order_as(api, w["other"][Role.CUSTOMER], o1["id"]) is None
    assert await order_as(api, tenant[Role.ADMIN], w["theirs"]["id"]) is None
    assert await order_as(api, tenant[Role.ADMIN], gid("Order", 999_999)) is None
    assert await order_as(api, tenant[Role.ADMIN], gid("Product", pk_of(o1["id"]))) is None  # wrong type of id
    # Drafts are nobody's history.
    succeeded(await add_to_cart(api, tenant[Role.MANAGER], sku="BOX"), "addToCart")
    assert len(await numbers(api, tenant[Role.MANAGER])) == 5
    assert error_code(await api.raw(HISTORY)) == "UNAUTHENTICATED"


async def test_order_approvers_see_the_orders_they_may_decide(api, services):
    tenant = await shop(api)
    product = await create_product(services, "BOX", 10000, 25)
    approved_before = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    chosen = tenant[Role.ORDER_APPROVER]
    bystander = await add_buyer(api, tenant, Role.ORDER_APPROVER)
    # Orders above 100.00 wait for the chosen approver by name; every order waits for any order approver.
    await approval_rule(services, tenant.company_id, threshold_minor=10000, roles=(),
                        membership_ids=[chosen.membership_id], name="Big")
    small = await place_order(api, tenant[Role.MANAGER], [(product, 1)])
    assert small["status"] == "PENDING_APPROVAL"  # 125.00 > 100.00
    await approval_rule(services, tenant.company_id, threshold_minor=100_000, roles=("order_approver",), name="Huge")
    huge = await place_order(api, tenant[Role.CUSTOMER], [(product, 10)])  # 1250.00: both rules
    assert huge["status"] == "PENDING_APPROVAL"
    other = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    await approval_rule(services, other.company_id, threshold_minor=0, roles=("order_approver",))
    theirs = await place_order(api, other[Role.CUSTOMER], [(product, 1)])
    assert theirs["status"] == "PENDING_APPROVAL"

    assert await numbers(api, chosen) == [huge["number"], small["number"]]
    assert await numbers(api, bystander) == [huge["number"]]  # the "Huge" tier names their role
    assert await order_as(api, bystander, small["id"]) is None
    assert await order_as(api, chosen, approved_before["id"]) is None
    assert await order_as(api, chosen, theirs["id"]) is None
    # After deciding, the chosen approver still sees the order they decided.
    body = await mutate(api, "approveOrder", "DecideOrderInput", {"id": small["id"]}, chosen.token)
    assert succeeded(body, "approveOrder")["order"]["status"] == "APPROVED"
    assert await numbers(api, chosen) == [huge["number"], small["number"]]
    assert await numbers(api, bystander) == [huge["number"]]


async def test_filters(api, services):
    w = await company_world(api, services)
    tenant, (o1, o2, o3, o4, o5) = w["tenant"], w["orders"]
    n = [o["number"] for o in (o1, o2, o3, o4, o5)]
    manager = tenant[Role.MANAGER]

    async def filtered(**condition) -> list[str]:
        return await numbers(api, manager, filter=condition, orderBy="SUBMITTED_AT_ASC")

    assert await filtered(statuses=["FULFILLED"]) == [n[0]]
    assert await filtered(statuses=["APPROVED"]) == n[1:]
    assert await filtered(statuses=["APPROVED", "FULFILLED"]) == n
    assert await filtered(statuses=["CANCELLED"]) == []
    # submittedTo is exclusive.
    assert await filtered(submittedFrom=at(2).isoformat(), submittedTo=at(4).isoformat()) == [n[1], n[2]]
    assert await filtered(submittedFrom=(at(4) - timedelta(microseconds=1)).isoformat()) == [n[3], n[4]]
    assert await filtered(submittedTo=at(1, 11).isoformat()) == [n[0]]
    assert await filtered(buyerId=w["second"].gid) == [n[2]]
    assert await filtered(buyerId=tenant[Role.CUSTOMER].gid) == [n[0], n[1]]
    assert await filtered(groupId=gid("Group", w["night"])) == [n[2]]
    assert await filtered(groupId=tenant.group_gid) == [n[0], n[1], n[3], n[4]]
    assert await filtered(endCustomerId=gid("EndCustomer", w["astrid"])) == [n[1]]
    assert await filtered(reference="WARD") == [n[0], n[2]]  # contains, any case
    assert await filtered(reference="re-inv") == [n[0]]
    assert await filtered(poNumber="PO-B") == [n[1]]  # exactly
    assert await filtered(poNumber="PO") == []
    assert await filtered(minTotal="250.00", maxTotal="500") == [n[1], n[2], n[4]]  # 375, 250, 500: inclusive
    assert await filtered(minTotal="500.01") == [n[3]]
    assert await filtered(maxTotal="125") == [n[0]]
    assert await filtered(search="ward") == [n[0], n[2]]
    assert await filtered(search=n[3][-6:]) == [n[3]]  # part of the number
    assert await filtered(search=n[3].lower()) == [n[3]]
    assert await filtered(search="%") == []  # no wildcard
    assert await filtered(search="_") == [] and await filtered(reference="d_7") == []
    assert await filtered(reference="/") == [] and await filtered(search="//") == []  # nor the escape character
    assert await filtered(statuses=["APPROVED"], buyerId=tenant[Role.CUSTOMER].gid, reference="kitchen") == [n[1]]
    # Filters never widen what the caller may see.
    assert await numbers(api, tenant[Role.CUSTOMER], filter={"buyerId": w["second"].gid}) == []
    assert await numbers(api, tenant[Role.ADMIN], filter={"buyerId": w["other"][Role.CUSTOMER].gid}) == []
    body = await api.raw(HISTORY, {"filter": {"minTotal": "1.234"}}, manager.token)
    assert (error_code(body), body["errors"][0]["extensions"]["field"]) == ("INVALID_INPUT", "filter.minTotal")
    for bound in ("minTotal", "maxTotal"):  # an empty amount is a bad amount, not "no bound"
        body = await api.raw(HISTORY, {"filter": {bound: ""}}, manager.token)
        assert (error_code(body), body["errors"][0]["extensions"]["field"]) == ("INVALID_INPUT", f"filter.{bound}")


async def test_sort_orders(api, services):
    w = await company_world(api, services)
    tenant, (o1, o2, o3, o4, o5) = w["tenant"], w["orders"]
    n = [o["number"] for o in (o1, o2, o3, o4, o5)]
    admin = tenant[Role.ADMIN]
    assert await numbers(api, admin, orderBy="SUBMITTED_AT_DESC") == [n[4], n[3], n[2], n[1], n[0]]
    assert await numbers(api, admin) == [n[4], n[3], n[2], n[1], n[0]]  # the default
    assert await numbers(api, admin, orderBy="SUBMITTED_AT_ASC") == n
    # Totals: 125, 375, 250, 625, 500.
    assert await numbers(api, admin, orderBy="TOTAL_DESC") == [n[3], n[4], n[1], n[2], n[0]]
    assert await numbers(api, admin, orderBy="TOTAL_ASC") == [n[0], n[2], n[1], n[4], n[3]]
    page = await history(api, admin, orderBy="TOTAL_DESC")
    assert [e["node"]["totals"]["gross"]["amount"] for e in page["edges"]] == [
        "625.00", "500.00", "375.00", "250.00", "125.00"]


SORTS = {
    "SUBMITTED_AT_DESC": (lambda o: (o.submitted_at, o.id), True),
    "SUBMITTED_AT_ASC": (lambda o: (o.submitted_at, o.id), False),
    "TOTAL_DESC": (lambda o: (o.gross_minor, o.id), True),
    "TOTAL_ASC": (lambda o: (o.gross_minor, o.id), False),
}


async def expected_numbers(services, company_id: int, sort: str) -> list[str]:
    async with services.db.read_sessions() as session:
        submitted = select(Order).where(Order.company_id == company_id, Order.status != "draft")
        rows = (await session.scalars(submitted)).all()
    key, descending = SORTS[sort]
    return [o.number for o in sorted(rows, key=key, reverse=descending)]


async def walk(api, member, sort: str, first: int, between_pages=None) -> list[str]:
    seen, after, page_number = [], None, 0
    while True:
        page = await history(api, member, orderBy=sort, first=first, after=after)
        assert len(page["edges"]) <= first
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [edge["node"]["number"] for edge in page["edges"]]
        page_number += 1
        if between_pages and page_number == 1:
            await between_pages()
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        after = page["pageInfo"]["endCursor"]


async def paging_world(api, services):
    tenant = await shop(api, [Role.CUSTOMER, Role.MANAGER])
    product = await create_product(services, "BOX", 10000, 25)
    orders = []
    for index in range(11):
        orders.append(await place_order(api, tenant[Role.CUSTOMER], [(product, 1 + index % 3)]))  # totals tie
    # Ties on the submission time as well: the id breaks them.
    for index, order in enumerate(orders):
        await set_submitted(services, order["id"], at(1 + index // 3))
    return tenant, product, orders


async def test_keyset_pages_cover_every_order_once_in_every_sort(api, services):
    tenant, _, _orders = await paging_world(api, services)
    manager = tenant[Role.MANAGER]
    for sort in SORTS:
        expected = await expected_numbers(services, tenant.company_id, sort)
        assert len(expected) == 11
        for first in (1, 4, 11):
            assert await walk(api, manager, sort, first) == expected, (sort, first)
    empty = await history(api, manager, first=0)
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is True


async def test_pages_stay_stable_while_new_orders_arrive(api, services):
    tenant, product, _orders = await paging_world(api, services)
    manager = tenant[Role.MANAGER]

    async def new_orders(arrived: list[str]) -> None:
        for quantity in (2, 7):
            arrived.append((await place_order(api, tenant[Role.CUSTOMER], [(product, quantity)]))["number"])

    for sort in SORTS:
        before = await expected_numbers(services, tenant.company_id, sort)
        arrived: list[str] = []
        seen = await walk(api, manager, sort, 3, between_pages=partial(new_orders, arrived))
        assert len(seen) == len(set(seen)), sort  # no duplicates
        assert set(before) <= set(seen), sort  # no gaps
        assert set(seen) <= set(before) | set(arrived)
        if sort == "SUBMITTED_AT_DESC":
            assert seen == before  # newer orders sort before the cursor: the walk is unchanged
        if sort == "SUBMITTED_AT_ASC":
            assert seen == before + arrived  # they come at the end


def encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_bad_cursors_and_page_sizes_are_invalid_input(api, services):
    tenant, _, _ = await paging_world(api, services)
    manager = tenant[Role.MANAGER]
    submitted_cursor = (await history(api, manager, first=2))["pageInfo"]["endCursor"]
    total_cursor = (await history(api, manager, first=2, orderBy="TOTAL_DESC"))["pageInfo"]["endCursor"]
    for sort, cursor in [
        ("SUBMITTED_AT_DESC", "not a cursor"),
        ("SUBMITTED_AT_DESC", encode("cursor:5")),  # a plain id cursor of another list
        ("SUBMITTED_AT_DESC", encode(json.dumps([1, 2, 3]))),
        ("SUBMITTED_AT_DESC", encode(json.dumps(["x", 2]))),
        ("SUBMITTED_AT_DESC", encode(json.dumps([{"t": "yesterday"}, 2]))),
        ("SUBMITTED_AT_DESC", encode(json.dumps([1000, "2"]))),
        ("TOTAL_DESC", submitted_cursor),  # a cursor of another sort order
        ("SUBMITTED_AT_ASC", total_cursor),
    ]:
        body = await api.raw(HISTORY, {"orderBy": sort, "first": 2, "after": cursor}, manager.token)
        assert error_code(body) == "INVALID_INPUT", (sort, cursor, body)
        assert body["errors"][0]["extensions"]["field"] == "after"
    for first in (-1, 101):
        assert error_code(await api.raw(HISTORY, {"first": first}, manager.token)) == "INVALID_INPUT"


# --- SQL statement budget ----------------------------------------------------------------------

PAGE_FIELDS = """id number status reference poNumber submittedAt paymentMethod
  buyer { userId name email } group { groupId name } endCustomer { endCustomerId name note }
  lines { id sku name quantity unitPrice { amount currency } vatRate net { amount } vat { amount } gross { amount } }
  totals { net { amount } vat { amount } gross { amount } vatBreakdown { rate vat { amount } } }
  delivery { locationName address { street city } slot { weekday startsAt } date }"""
BUDGET_QUERY = (f"query($first: Int!) {{ orders(first: $first) {{ edges {{ cursor node {{ {PAGE_FIELDS} }} }} "
                "pageInfo { hasNextPage } } }")
BUDGET_QUERY_WITH_TIMELINE = (
    f"query($first: Int!) {{ orders(first: $first) {{ edges {{ cursor node {{ {PAGE_FIELDS} "
    f"timeline {{ kind fromStatus toStatus actorName at }} }} }} pageInfo {{ hasNextPage }} }} }}")
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


async def bulk_orders(services, company_id: int, group_id: int, buyer_ids: list[int], count: int) -> None:
    """`count` approved orders with two lines each and a timeline, spread over buyers, half for an end customer."""
    _, slot, astrid = await end_customer(services, company_id)
    product_a = await create_product(services, "A", 1000, 25)
    product_b = await create_product(services, "B", 333, 15)
    now = utcnow()
    async with services.db.transaction() as session:
        location_id = await session.scalar(select(EndCustomer.location_id).where(EndCustomer.id == astrid))
        for index in range(count):
            ours = index % 2 == 0
            order = Order(company_id=company_id, buyer_id=buyer_ids[index % len(buyer_ids)], group_id=group_id,
                          status="approved", number=f"PO-2025-{index + 1:06d}", currency="NOK",
                          reference=f"Ref {index}",
                          end_customer_id=astrid if ours else None, location_id=location_id if ours else None,
                          delivery_slot_id=slot if ours else None, delivery_street="Solveien 3",
                          delivery_postal_code="0870", delivery_city="Oslo", payment_method="card", net_minor=1333,
                          vat_minor=300, gross_minor=1633, submitted_at=now - timedelta(minutes=index))
            order.lines = [
                OrderLine(product_id=product_a, quantity=1, sku="A", name="A", unit="piece", unit_price_minor=1000,
                          vat_rate=25, net_minor=1000, vat_minor=250),
                OrderLine(product_id=product_b, quantity=1, sku="B", name="B", unit="piece", unit_price_minor=333,
                          vat_rate=15, net_minor=333, vat_minor=50),
            ]
            session.add(order)
            await session.flush()
            session.add_all([
                OrderEvent(order_id=order.id, kind="submit", from_status="draft", to_status="submitted"),
                OrderEvent(order_id=order.id, kind="approve", from_status="submitted", to_status="approved"),
            ])


async def statements_for(api, services, member, query: str, first: int) -> tuple[list[str], dict]:
    """Every statement the engine sends during one HTTP request, and the page it answered."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        body = await api.raw(query, {"first": first}, member.token)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "errors" not in body, body
    return statements, body["data"]["orders"]


def queries(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)]


async def test_an_order_history_page_takes_at_most_four_statements_whatever_its_size(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER, Role.MANAGER])
    buyers = [tenant[Role.CUSTOMER].membership_id, tenant[Role.MANAGER].membership_id]
    await bulk_orders(services, tenant.company_id, tenant.group_id, buyers, 55)
    admin = tenant[Role.ADMIN]
    large, page = await statements_for(api, services, admin, BUDGET_QUERY, 50)
    assert len(page["edges"]) == 50 and page["pageInfo"]["hasNextPage"] is True
    node = page["edges"][0]["node"]
    assert [line["sku"] for line in node["lines"]] == ["A", "B"]
    assert node["endCustomer"]["name"] == "Astrid" and node["buyer"]["name"] == "Test Customer"
    assert node["group"]["name"] == "Default"
    assert node["delivery"]["slot"]["weekday"] == "TUESDAY"
    assert node["totals"]["gross"]["amount"] == "16.33"
    assert sum(1 for e in page["edges"] if e["node"]["endCustomer"]) == 25
    assert {e["node"]["buyer"]["name"] for e in page["edges"]} == {"Test Customer", "Test Manager"}
    small, page = await statements_for(api, services, admin, BUDGET_QUERY, 5)
    assert len(page["edges"]) == 5
    # Everything the engine sent, BEGIN included: the actor, the orders, their lines.
    assert len(large) <= 4, large
    assert len(small) == len(large)


async def test_the_timeline_adds_one_statement_whatever_the_page_size(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.CUSTOMER].membership_id], 55)
    admin = tenant[Role.ADMIN]
    large, page = await statements_for(api, services, admin, BUDGET_QUERY_WITH_TIMELINE, 50)
    assert [e["kind"] for e in page["edges"][0]["node"]["timeline"]] == ["SUBMIT", "APPROVE"]
    small, _ = await statements_for(api, services, admin, BUDGET_QUERY_WITH_TIMELINE, 5)
    # Actor, orders, lines, events (SQLite also shows the BEGIN the app emits itself).
    assert len(queries(large)) <= 4, large
    assert len(large) == len(small)


FULL_HISTORY = """query($first: Int!) { orders(first: $first) {
  edges { cursor node { __typename id number status reference poNumber paymentMethod createdAt submittedAt warnings
    buyer { userId name email } group { groupId name } endCustomer { endCustomerId name note }
    costCentre { costCentreId name code }
    lines { id productId sku name unit quantity vatRate substitutionAllowed returnedQuantity
            unitPrice { amount currency } net { amount } vat { amount } gross { amount } }
    totals { net { amount currency } vat { amount } gross { amount } credited { amount }
             vatBreakdown { rate net { amount } vat { amount } } }
    delivery { locationId locationName date address { street postalCode city }
               slot { slotId weekday startsAt endsAt } }
    timeline { kind fromStatus toStatus comment at actorName }
    approvalFlow { viewerActions rules { ruleName reason
      tiers { level status approverRoles approverNames decidedBy comment } } }
  } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def test_the_compiled_completion_answers_a_full_page_exactly_like_graphql_core(api, services, monkeypatch):
    from schema import execution

    w = await company_world(api, services)
    manager = w["tenant"][Role.MANAGER]
    runs = []
    original = execution.Plan.run
    monkeypatch.setattr(execution.Plan, "run", lambda plan, *args: runs.append(plan) or original(plan, *args))
    compiled = await api.query(FULL_HISTORY, {"first": 3}, manager.token)
    assert {plan.object_type.name for plan in runs} >= {"OrderConnection"}  # the whole page in one plan
    monkeypatch.setattr(execution.PlainTreeExecutor, "compiled_completion", False)
    runs.clear()
    generic = await api.query(FULL_HISTORY, {"first": 3}, manager.token)
    assert not runs
    assert compiled == generic
    assert len(compiled["orders"]["edges"]) == 3 and compiled["orders"]["pageInfo"]["hasNextPage"]
    assert compiled["orders"]["edges"][1]["node"]["timeline"]
