"""The approver's queue: since when each order waits (set when a tier becomes current), filters with typed
errors, sorting by waiting time or amount in both directions, keyset pages that cover every order once,
totalCount, and a fixed number of SQL statements whatever the page size."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select, update

from models import Group, OrderApprovalStep, Role
from models.base import utcnow
from schema.relay import to_global_id
from tests.factories import error_code
from tests.spend_helpers import (
    SpendTenant,
    add_member,
    create_product,
    ok,
    order_pk,
    placed,
    rule,
    spend_tenant,
    tier,
)

QUEUE = """query($filter: ApprovalQueueFilter, $orderBy: ApprovalQueueSort! = WAITING_SINCE_ASC, $first: Int! = 50,
  $after: String) {
  approvalQueue(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    edges { cursor node { waitingSince order { id number totals { gross { amount } } buyer { name } }
      budgetImpact { budgetName } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
PRICE = 100_00  # gross 125.00 a piece


async def page(api, token: str | None, **variables) -> dict:
    return (await api.query(QUEUE, variables, token))["approvalQueue"]


async def ids(api, token: str | None, **variables) -> list[str]:
    return [edge["node"]["order"]["id"] for edge in (await page(api, token, **variables))["edges"]]


async def set_waiting(services, order_gid: str, when: datetime) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(OrderApprovalStep).where(
            OrderApprovalStep.order_id == order_pk(order_gid), OrderApprovalStep.is_current.is_(True))
            .values(waiting_since=when))


async def queue_world(api, services) -> tuple[SpendTenant, list[dict]]:
    """Five orders waiting for the order approver: quantities 3, 1, 5, 1, 2 (two of equal amount), placed by
    two buyers in two groups, waiting since 5, 1, 3, 4 and 2 hours ago (not in the order they were placed)."""
    st = await spend_tenant(api)
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    async with services.db.transaction() as session:
        other = Group(company_id=st.company_id, name="Warehouse")
        session.add(other)
        await session.flush()
        other_group = other.id
    second = await add_member(api, st, Role.CUSTOMER, group_id=other_group, first_name="Second")
    product = await create_product(services, net_minor=PRICE)
    now = utcnow()
    orders = []
    for quantity, buyer, hours in ((3, st[Role.CUSTOMER], 5), (1, second, 1), (5, st[Role.CUSTOMER], 3),
                                   (1, second, 4), (2, st[Role.CUSTOMER], 2)):
        order = await placed(api, buyer, product, quantity)
        await set_waiting(services, order["id"], now - timedelta(hours=hours))
        orders.append({**order, "quantity": quantity, "hours": hours, "group": other_group if buyer is second else
                       st.group_id, "buyer": buyer.gid})
    return st, orders


def by(orders: list[dict], key) -> list[str]:
    return [o["id"] for o in sorted(orders, key=key)]


async def walk(api, token: str | None, order_by: str, first: int, **variables) -> list[str]:
    seen, after = [], None
    for _ in range(20):
        current = await page(api, token, orderBy=order_by, first=first, after=after, **variables)
        seen += [edge["node"]["order"]["id"] for edge in current["edges"]]
        assert current["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not current["pageInfo"]["hasNextPage"]:
            return seen
        after = current["pageInfo"]["endCursor"]
    raise AssertionError("the pages never ended")


async def test_sorted_by_waiting_time_or_amount_in_both_directions_over_keyset_pages(api, services):
    st, orders = await queue_world(api, services)
    token = st[Role.ORDER_APPROVER].token
    index = {o["id"]: i for i, o in enumerate(orders)}  # placement order: the tie-break (by id)
    expected = {
        "WAITING_SINCE_ASC": by(orders, lambda o: -o["hours"]),
        "WAITING_SINCE_DESC": by(orders, lambda o: o["hours"]),
        "TOTAL_ASC": by(orders, lambda o: (o["quantity"], index[o["id"]])),
        "TOTAL_DESC": by(orders, lambda o: (-o["quantity"], -index[o["id"]])),
    }
    assert expected["WAITING_SINCE_ASC"] != [o["id"] for o in orders]  # waiting time is not placement order
    for order_by, ids_in_order in expected.items():
        assert await ids(api, token, orderBy=order_by) == ids_in_order, order_by
        for first in (1, 2, 4):
            assert await walk(api, token, order_by, first) == ids_in_order, (order_by, first)
    # The default: waiting longest first, with since when.
    current = await page(api, token)
    assert [e["node"]["order"]["id"] for e in current["edges"]] == expected["WAITING_SINCE_ASC"]
    waited = [datetime.fromisoformat(e["node"]["waitingSince"]) for e in current["edges"]]
    assert waited == sorted(waited) and all(w.utcoffset() == timedelta(0) for w in waited)
    assert current["totalCount"] == 5


async def test_filters_and_total_count(api, services):
    st, orders = await queue_world(api, services)
    token = st[Role.ORDER_APPROVER].token
    oldest_first = by(orders, lambda o: -o["hours"])

    async def filtered(**condition) -> tuple[list[str], int]:
        result = await page(api, token, filter=condition, first=2)
        rest = await walk(api, token, "WAITING_SINCE_ASC", 2, filter=condition)
        assert [e["node"]["order"]["id"] for e in result["edges"]] == rest[:2]
        return rest, result["totalCount"]

    def expect(keep) -> tuple[list[str], int]:
        chosen = [i for i in oldest_first if keep(next(o for o in orders if o["id"] == i))]
        return chosen, len(chosen)

    assert await filtered() == expect(lambda o: True)
    assert await filtered(minTotal="250.00") == expect(lambda o: o["quantity"] >= 2)
    assert await filtered(maxTotal="250") == expect(lambda o: o["quantity"] <= 2)
    assert await filtered(minTotal="125.00", maxTotal="125.00") == expect(lambda o: o["quantity"] == 1)
    assert await filtered(buyerId=st[Role.CUSTOMER].gid) == expect(lambda o: o["buyer"] == st[Role.CUSTOMER].gid)
    other_group = next(o["group"] for o in orders if o["group"] != st.group_id)
    assert await filtered(groupId=to_global_id("Group", other_group)) == expect(lambda o: o["group"] == other_group)
    since = (utcnow() - timedelta(hours=2, minutes=30)).isoformat()
    assert await filtered(waitingSince=since) == expect(lambda o: o["hours"] >= 3)
    assert await filtered(waitingSince=since, groupId=to_global_id("Group", other_group), minTotal="1") == expect(
        lambda o: o["hours"] >= 3 and o["group"] == other_group)
    # Ids of nothing match nothing.
    assert await filtered(buyerId=to_global_id("User", 987_654_321)) == ([], 0)
    # Another approver's queue is theirs: the buyer's orders are not the admin's to decide here.
    admin = await page(api, st[Role.ADMIN].token)
    assert (admin["edges"], admin["totalCount"]) == ([], 0)
    # A decided order leaves the queue and the count.
    await ok(api, "approveOrder", {"id": oldest_first[0]}, token)
    assert await filtered() == (oldest_first[1:], 4)


async def test_bad_filters_cursors_and_sizes_are_invalid_input_with_the_field(api, services):
    st, _ = await queue_world(api, services)
    token = st[Role.ORDER_APPROVER].token
    by_amount = (await page(api, token, orderBy="TOTAL_ASC", first=1))["pageInfo"]["endCursor"]
    by_time = (await page(api, token, first=1))["pageInfo"]["endCursor"]
    cases = [
        (dict(filter={"minTotal": "ten"}), "filter.minTotal"),
        (dict(filter={"minTotal": "-1"}), "filter.minTotal"),
        (dict(filter={"maxTotal": "1.001"}), "filter.maxTotal"),
        (dict(filter={"maxTotal": "-0.01"}), "filter.maxTotal"),
        (dict(filter={"minTotal": "200", "maxTotal": "100"}), "filter.maxTotal"),
        (dict(filter={"buyerId": "not-an-id"}), "filter.buyerId"),
        (dict(filter={"buyerId": to_global_id("Group", st.group_id)}), "filter.buyerId"),
        (dict(filter={"groupId": st[Role.CUSTOMER].gid}), "filter.groupId"),
        (dict(orderBy="WAITING_SINCE_ASC", after=by_amount), "after"),
        (dict(orderBy="TOTAL_DESC", after=by_time), "after"),
        (dict(after="bm90LWEtY3Vyc29y"), "after"),
        (dict(after=base64.urlsafe_b64encode(b"cursor:5").decode().rstrip("=")), "after"),  # an id cursor
        (dict(first=-1), "first"),
        (dict(first=101), "first"),
    ]
    for variables, field in cases:
        body = await api.raw(QUEUE, variables, token)
        assert error_code(body) == "INVALID_INPUT", (variables, body)
        assert body["errors"][0]["extensions"]["field"] == field, (variables, body)
    # A date-time without its offset is refused before anything runs.
    body = await api.raw(QUEUE, {"filter": {"waitingSince": "2026-01-31T09:30:00"}}, token)
    assert error_code(body) == "INVALID_INPUT", body
    # Without order:approve, nothing at all.
    for role in (Role.CUSTOMER, Role.MANAGER):
        assert error_code(await api.raw(QUEUE, {}, st[role].token)) == "FORBIDDEN"


async def test_a_tier_waits_from_when_it_became_current(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier("ADMIN"), tier("ORDER_APPROVER")])
    product = await create_product(services, net_minor=PRICE)
    before = utcnow()
    order = await placed(api, st[Role.CUSTOMER], product)
    async with services.db.read_sessions() as session:
        rows = (await session.execute(select(OrderApprovalStep.level, OrderApprovalStep.waiting_since).where(
            OrderApprovalStep.order_id == order_pk(order["id"])).order_by(OrderApprovalStep.level))).all()
    assert rows[0][1] is not None and rows[0][1] >= before and rows[1][1] is None
    assert (await page(api, st[Role.ORDER_APPROVER].token))["totalCount"] == 0
    await set_waiting(services, order["id"], datetime(2026, 1, 1, tzinfo=UTC))
    first_tier = (await page(api, st[Role.ADMIN].token))["edges"][0]["node"]
    assert first_tier["waitingSince"] == "2026-01-01T00:00:00+00:00"
    decided = utcnow()
    await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token)
    second_tier = (await page(api, st[Role.ORDER_APPROVER].token))["edges"][0]["node"]
    assert second_tier["order"]["id"] == order["id"]
    assert datetime.fromisoformat(second_tier["waitingSince"]) >= decided


# --- SQL statement budget ----------------------------------------------------------------------

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


async def statements_for(api, services, token: str | None, first: int) -> tuple[list[str], dict]:
    """Every statement the engine sends during one HTTP request, and the page it answered."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        body = await api.raw(QUEUE.replace("budgetImpact { budgetName }", (
            "budgetImpact { budgetName } order { approvalFlow { rules { tiers { status decidedBy } } "
            "viewerActions } lines { sku } }")), {"first": first, "filter": {"minTotal": "1"}}, token)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "errors" not in body, body
    return statements, body["data"]["approvalQueue"]


async def test_a_queue_page_takes_a_fixed_number_of_statements_whatever_its_size(api, services):
    st, _ = await queue_world(api, services)
    product = await create_product(services, net_minor=PRICE, category="Paper")
    for _ in range(7):
        await placed(api, st[Role.CUSTOMER], product)
    token = st[Role.ORDER_APPROVER].token
    await services.mailer.drain()  # the approval mails go out in the background: not the queue's statements
    large, full = await statements_for(api, services, token, 12)
    small, part = await statements_for(api, services, token, 2)
    assert (len(full["edges"]), full["totalCount"], full["pageInfo"]["hasNextPage"]) == (12, 12, False)
    assert (len(part["edges"]), part["totalCount"], part["pageInfo"]["hasNextPage"]) == (2, 12, True)
    assert all(e["node"]["order"]["lines"] and e["node"]["order"]["approvalFlow"]["viewerActions"] == [
        "APPROVE", "REJECT"] for e in full["edges"])
    # BEGIN (SQLite), the caller, the page's keys, the count, the orders, their lines, the flows' steps, names
    # (none here: no named approvers) and decidable steps, the budget impact: the same for 2 orders and for 12.
    assert len(small) == len(large), "\n".join(s[:150] for s in large)
    assert len(large) <= 10, large
