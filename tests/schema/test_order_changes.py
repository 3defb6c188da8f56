"""The order change feed through the API: order, pagination, polling from an empty page, visibility,
cursors, retention, the statement budget, Order.updatedAt, and the proof that no change is skipped when
transactions commit out of order (PostgreSQL), with the naive approaches losing one in the same scenario."""

from __future__ import annotations

import asyncio
import base64
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, true, update

from models import FeedPosition, Order, OrderChange, Role
from models.base import utcnow
from resolvers import changes, order_changes
from resolvers.changes import Position, decode_cursor, encode_cursor, prune_changes
from tests.change_helpers import FEED, all_settled, drain, feed, open_change, order_change_world
from tests.factories import error_code
from tests.ordering_helpers import (
    create_product,
    mutate,
    operator,
    pk_of,
    place_order,
    shop,
    succeeded,
)


def kinds(nodes: list[dict]) -> list[tuple[str, str]]:
    return [(node["order"]["number"], node["kind"]) for node in nodes]


# --- what the feed serves ---------------------------------------------------------------------------------------

async def test_changes_come_oldest_first_with_the_order_as_it_is_now(api, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    nodes, cursor = await drain(api, admin)
    o1, o2, o3 = (o["number"] for o in w["orders"])
    assert kinds(nodes) == [
        (o1, "SUBMIT"), (o1, "APPROVE"), (o1, "FULFIL"),
        (o2, "SUBMIT"), (o2, "REQUIRE_APPROVAL"), (o2, "APPROVE"),
        (o3, "SUBMIT"), (o3, "REQUIRE_APPROVAL"), (o3, "CANCEL"),
    ]
    # The order is shown as it is now, whichever change carries it.
    assert [node["order"]["status"] for node in nodes[:3]] == ["FULFILLED"] * 3
    assert len({node["id"] for node in nodes}) == 9
    for node in nodes:
        assert datetime.fromisoformat(node["occurredAt"]).utcoffset() == timedelta(0)
        assert node["order"]["updatedAt"] >= node["occurredAt"][:19]  # the order changed at or after it

    # Pages of two give the same changes; each page's endCursor is its last edge's cursor.
    paged, after = [], None
    while True:
        page = await feed(api, admin, after=after, first=2)
        paged += [edge["node"] for edge in page["edges"]]
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert paged == nodes
    positions = [decode_cursor(edge_cursor) for edge_cursor in
                 [e["cursor"] for e in (await feed(api, admin, first=100))["edges"]]]
    assert positions == sorted(positions) and len(set(positions)) == 9

    # An empty page keeps the poller's place (past the other company's changes, the feed's last ones), and
    # what happens next comes from there.
    empty = await feed(api, admin, after=cursor)
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is False
    assert decode_cursor(empty["pageInfo"]["endCursor"]) > decode_cursor(cursor)
    cursor = empty["pageInfo"]["endCursor"]
    assert (await feed(api, admin, after=cursor))["pageInfo"]["endCursor"] == cursor
    op = await operator(api)
    succeeded(await mutate(api, "fulfilOrder", "FulfilOrderInput", {"id": w["orders"][1]["id"]}, op.token),
              "fulfilOrder")
    later, cursor = await drain(api, admin, after=cursor)
    assert kinds(later) == [(o2, "FULFIL")]
    assert later[0]["order"]["status"] == "FULFILLED"
    assert (await feed(api, admin, after=cursor))["edges"] == []


async def test_an_empty_feed_still_gives_a_cursor_to_poll_from(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    page = await feed(api, tenant[Role.ADMIN])
    assert page["edges"] == [] and page["pageInfo"]["hasNextPage"] is False
    start = page["pageInfo"]["endCursor"]
    assert decode_cursor(start) == Position(0, 0)
    product = await create_product(services, "BOX", 10000, 25)
    order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    nodes, _ = await drain(api, tenant[Role.ADMIN], after=start)
    assert kinds(nodes) == [(order["number"], "SUBMIT"), (order["number"], "APPROVE")]
    # first: 0 reads nothing and moves nothing.
    zero = await feed(api, tenant[Role.ADMIN], after=start, first=0)
    assert zero["edges"] == [] and zero["pageInfo"]["hasNextPage"] is True
    assert zero["pageInfo"]["endCursor"] == start


async def test_each_caller_sees_the_changes_of_the_orders_they_may_see(api, services):
    w = await order_change_world(api, services)
    tenant, other = w["tenant"], w["other"]
    o1, o2, o3 = (o["number"] for o in w["orders"])
    theirs = w["theirs"]["number"]
    everything = [(o1, "SUBMIT"), (o1, "APPROVE"), (o1, "FULFIL"), (o2, "SUBMIT"), (o2, "REQUIRE_APPROVAL"),
                  (o2, "APPROVE"), (o3, "SUBMIT"), (o3, "REQUIRE_APPROVAL"), (o3, "CANCEL")]
    assert kinds((await drain(api, tenant[Role.MANAGER]))[0]) == everything
    # The customer placed o1 and o2; the order approver decided o2 and sees nothing else (o3 was cancelled
    # before anyone decided it).
    assert kinds((await drain(api, tenant[Role.CUSTOMER]))[0]) == everything[:6]
    assert kinds((await drain(api, tenant[Role.ORDER_APPROVER]))[0]) == everything[3:6]
    # Another company's people never see these, and these people never see theirs.
    assert kinds((await drain(api, other[Role.ADMIN]))[0]) == [(theirs, "SUBMIT"), (theirs, "APPROVE")]
    assert kinds((await drain(api, other[Role.CUSTOMER]))[0]) == [(theirs, "SUBMIT"), (theirs, "APPROVE")]
    # The platform operator fulfils everyone's orders and sees every company's changes.
    assert set(kinds((await drain(api, w["op"]))[0])) == {*everything, (theirs, "SUBMIT"), (theirs, "APPROVE")}
    assert error_code(await api.raw(FEED)) == "UNAUTHENTICATED"

    # A poller whose orders are not among the last changes moves past them on an empty page ...
    _, cursor = await drain(api, other[Role.CUSTOMER])
    last_of_all = decode_cursor((await drain(api, w["op"]))[1])
    assert decode_cursor(cursor) == last_of_all
    # ... and still gets its own next change.
    product = await create_product(services, "CUP", 500, 25)
    mine = await place_order(api, other[Role.CUSTOMER], [(product, 2)])
    nodes, _ = await drain(api, other[Role.CUSTOMER], after=cursor)
    assert kinds(nodes) == [(mine["number"], "SUBMIT"), (mine["number"], "APPROVE")]
    assert (await drain(api, tenant[Role.CUSTOMER], after=cursor))[0] == []


async def test_an_api_client_reads_the_feed_with_orders_read_only(api, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    secrets = {}
    for scopes in (["ORDERS_READ"], ["CATALOGUE_READ", "WEBHOOKS_MANAGE"]):
        body = await api.mutate(
            "createApiClient", "CreateApiClientInput",
            "__typename ... on ApiClientSecretPayload { secret } ... on MutationError { code message }",
            {"name": "+".join(scopes), "scopes": scopes}, admin.token)
        secrets[scopes[0]] = body["data"]["createApiClient"]["secret"]
    await all_settled(services)
    client_page = (await api.query(FEED, {"first": 100}, secrets["ORDERS_READ"]))["orderChanges"]
    assert client_page == await feed(api, admin, first=100)  # the company's changes, as its administrators see
    body = await api.raw(FEED, {}, secrets["CATALOGUE_READ"])
    assert error_code(body) == "FORBIDDEN" and body["data"] is None


async def test_a_change_is_a_node(api, services):
    w = await order_change_world(api, services)
    admin, customer = w["tenant"][Role.ADMIN], w["other"][Role.CUSTOMER]
    nodes, _ = await drain(api, admin)
    query = """query($id: ID!) { node(id: $id) { __typename ... on OrderChange {
        id kind occurredAt order { id number status updatedAt } } } }"""
    for node in nodes:
        assert (await api.query(query, {"id": node["id"]}, admin.token))["node"] == {"__typename": "OrderChange",
                                                                                     **node}
    assert (await api.query(query, {"id": nodes[0]["id"]}, customer.token))["node"] is None


async def test_bad_cursors_and_page_sizes_are_invalid_input(api, services):
    tenant = await shop(api, [Role.ADMIN])
    admin = tenant[Role.ADMIN]

    def raw(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    good = encode_cursor(Position(12, 34))
    assert (await feed(api, admin, after=good))["edges"] == []
    for cursor in ["", "not a cursor", raw("changes:v1:012:34"), raw("changes:v1:12"), raw("changes:v2:12:34"),
                   raw("changes:v1:-1:34"), raw("changes:v1:12:34:5"), raw("changes:v1:١٢:34"), raw("cursor:5"),
                   raw(f"changes:v1:{2**63}:1"), good + "=", good + "A", "x" * 500]:
        body = await api.raw(FEED, {"after": cursor}, admin.token)
        assert error_code(body) == "INVALID_INPUT", (cursor, body)
        assert body["errors"][0]["extensions"]["field"] == "after"
        assert body["errors"][0]["message"] == "The cursor is not valid"
    for first in (-1, 101):
        body = await api.raw(FEED, {"first": first}, admin.token)
        assert error_code(body) == "INVALID_INPUT" and body["errors"][0]["extensions"]["field"] == "first"


# --- retention ----------------------------------------------------------------------------------------------------

async def age(services, change_ids: list[int], days: int) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(OrderChange).where(OrderChange.id.in_(change_ids))
                              .values(created_at=utcnow() - timedelta(days=days)))


async def test_retention_prunes_the_old_prefix_and_a_cursor_behind_it_expires(api, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    nodes, _ = await drain(api, admin)
    page = await feed(api, admin, first=100)
    cursors = [edge["cursor"] for edge in page["edges"]]
    ids = [pk_of(node["id"]) for node in nodes]
    # The first four changes are 91 days old, the fifth 30, the sixth 100 again: only the first four go
    # (pruning takes the oldest prefix of the feed, so that its position stays exact).
    await age(services, ids[:4], 91)
    await age(services, [ids[4]], 30)
    await age(services, [ids[5]], 100)
    assert await prune_changes(services.db, utcnow(), retention_days=90, batch_size=3) == 4
    assert await prune_changes(services.db, utcnow(), retention_days=90, batch_size=3) == 0  # idempotent
    async with services.db.read_sessions() as session:
        kept = (await session.scalars(select(OrderChange.id).order_by(OrderChange.id))).all()
        pruned = (await session.execute(select(FeedPosition.txid, FeedPosition.change_id)
                                        .where(FeedPosition.name == "pruned"))).one()
    assert [i for i in kept if i in ids] == ids[4:]
    assert Position(*pruned) == decode_cursor(cursors[3])

    # A cursor behind the pruned position: the changes after it are partly gone.
    for stale in (cursors[0], cursors[2], encode_cursor(Position(0, 0))):
        body = await api.raw(FEED, {"after": stale}, admin.token)
        assert error_code(body) == "CHANGES_EXPIRED", body
        assert body["errors"][0]["extensions"]["field"] == "after"
        assert "resynchronise with the export" in body["errors"][0]["message"]
        assert body["data"] is None
    # At the pruned position nothing was missed; without a cursor the feed starts at the oldest kept.
    assert kinds((await drain(api, admin, after=cursors[3]))[0]) == kinds(nodes[4:])
    assert kinds((await drain(api, admin))[0]) == kinds(nodes[4:])
    node = await api.query("query($id: ID!) { node(id: $id) { id } }", {"id": nodes[0]["id"]}, admin.token)
    assert node["node"] is None

    # 91 days later everything goes (the other company's changes too), and the pruned position is the
    # feed's last change: a poller that had caught up is still fine.
    _, caught_up = await drain(api, admin, after=cursors[-1])
    assert await prune_changes(services.db, utcnow() + timedelta(days=91)) == len(nodes) - 4 + 2
    body = await api.raw(FEED, {"after": cursors[-1]}, admin.token)
    assert error_code(body) == "CHANGES_EXPIRED"  # the other company's last changes came after it
    page = await feed(api, admin, after=caught_up)
    assert page["edges"] == [] and page["pageInfo"]["endCursor"] == caught_up


async def test_the_worker_prunes_the_feed_every_night(api, services):
    from worker.runner import run_due_jobs

    w = await order_change_world(api, services)
    nodes, _ = await drain(api, w["tenant"][Role.ADMIN])
    ids = [pk_of(node["id"]) for node in nodes]
    await age(services, ids[:2], 100)  # older than 90 days before the last 03:30 UTC
    assert await run_due_jobs(services, kinds=[changes.PRUNE_CHANGES_JOB]) == 1
    async with services.db.read_sessions() as session:
        kept = set((await session.scalars(select(OrderChange.id))).all())
    assert kept >= set(ids[2:]) and not kept & set(ids[:2])
    assert await run_due_jobs(services, kinds=[changes.PRUNE_CHANGES_JOB]) == 0  # once per night


def test_changes_are_kept_at_least_90_days(database_url):
    from pydantic import ValidationError

    from tests.conftest import test_settings

    assert test_settings(database_url).change_retention_days == 90
    assert test_settings(database_url, change_retention_days=365).change_retention_days == 365
    with pytest.raises(ValidationError):
        test_settings(database_url, change_retention_days=30)


# --- the statement budget ------------------------------------------------------------------------------------------

async def statements_for(api, services, member, query: str, variables: dict) -> tuple[list[str], dict]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        body = await api.raw(query, variables, member.token)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "errors" not in body, body
    return statements, body["data"]


FULL_FEED = """query($first: Int!) { orderChanges(first: $first) { edges { cursor node { id kind occurredAt
  order { id number status updatedAt buyer { name } lines { sku quantity net { amount } } totals { gross { amount } }
          timeline { kind at } } } } pageInfo { hasNextPage endCursor } } }"""


async def test_a_page_takes_the_same_few_statements_whatever_its_size(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    product = await create_product(services, "BOX", 10000, 25)
    for _ in range(30):  # 60 changes: submitted and approved
        await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    admin = tenant[Role.ADMIN]
    await all_settled(services)
    small, data = await statements_for(api, services, admin, FULL_FEED, {"first": 3})
    assert len(data["orderChanges"]["edges"]) == 3
    large, data = await statements_for(api, services, admin, FULL_FEED, {"first": 100})
    edges = data["orderChanges"]["edges"]
    assert len(edges) == 60 and edges[0]["node"]["order"]["lines"][0]["sku"] == "BOX"
    assert [e["kind"] for e in edges[0]["node"]["order"]["timeline"]] == ["SUBMIT", "APPROVE"]
    # The caller, the feed's end, the page, the pruned position, the orders, their lines, their timelines.
    assert len(large) == len(small) <= 7, large


# --- Order.updatedAt ---------------------------------------------------------------------------------------------

HISTORY = """query($filter: OrderFilter, $orderBy: OrderSort!, $first: Int! = 50, $after: String) {
  orders(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    edges { node { number updatedAt } } pageInfo { hasNextPage endCursor } } }"""


async def test_orders_filter_and_sort_by_update_time(api, services):
    tenant = await shop(api, [Role.MANAGER, Role.CUSTOMER])
    product = await create_product(services, "BOX", 10000, 25)
    placed = [await place_order(api, tenant[Role.CUSTOMER], [(product, 1)]) for _ in range(4)]
    times = [datetime(2026, 3, day, 12, tzinfo=UTC) for day in (4, 1, 3, 2)]
    async with services.db.transaction() as session:
        for order, when in zip(placed, times, strict=True):
            await session.execute(update(Order).where(Order.id == pk_of(order["id"])).values(updated_at=when))
    numbers = [o["number"] for o in placed]
    manager = tenant[Role.MANAGER]

    async def listed(**variables) -> list[str]:
        result, after = [], None
        while True:
            page = (await api.query(HISTORY, {**variables, "first": 3, "after": after}, manager.token))["orders"]
            result += [edge["node"]["number"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return result
            after = page["pageInfo"]["endCursor"]

    newest_first = [numbers[0], numbers[2], numbers[3], numbers[1]]
    assert await listed(orderBy="UPDATED_AT_DESC") == newest_first
    assert await listed(orderBy="UPDATED_AT_ASC") == newest_first[::-1]
    window = {"updatedFrom": "2026-03-02T12:00:00+00:00", "updatedTo": "2026-03-04T12:00:00+00:00"}
    assert await listed(orderBy="UPDATED_AT_DESC", filter=window) == [numbers[2], numbers[3]]
    page = (await api.query(HISTORY, {"orderBy": "UPDATED_AT_ASC", "first": 1}, manager.token))["orders"]
    assert page["edges"][0]["node"]["updatedAt"] == "2026-03-01T12:00:00+00:00"
    # Every change of an order moves its updatedAt.
    op = await operator(api)
    succeeded(await mutate(api, "fulfilOrder", "FulfilOrderInput", {"id": placed[1]["id"]}, op.token), "fulfilOrder")
    assert (await listed(orderBy="UPDATED_AT_DESC"))[0] == numbers[1]


# --- never skipping a change: transactions that commit out of order ---------------------------------------------------

async def test_a_transaction_that_commits_late_is_not_skipped(api, services, backend, monkeypatch):
    """PostgreSQL: T1 writes a change first (the lower transaction id and timestamp), T2 writes one and
    commits first. A reader polling meanwhile gets neither and keeps its cursor below T1's until T1 has
    committed, then both. The same scenario loses T1's change with "updated after my last timestamp" and
    with "ids after my last id", which shows the test can tell. SQLite serializes writers: T2 cannot even
    begin before T1 has committed, so ids are in commit order."""
    w = await order_change_world(api, services)
    reader = w["tenant"][Role.ADMIN]
    first, second = (pk_of(o["id"]) for o in w["orders"][:2])
    _, cursor = await drain(api, reader)
    if backend == "sqlite":
        async with open_change(services, first, "T1") as t1:
            waiting = asyncio.create_task(committed_change(services, second, "T2"))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiting), timeout=0.5)  # T2 waits for T1's write lock
            await t1.commit()
        await waiting
        nodes, _ = await drain(api, reader, after=cursor)
        assert [node["order"]["number"] for node in nodes] == [w["orders"][0]["number"], w["orders"][1]["number"]]
        return

    naive_since = (await newest_update(api, reader))
    async with open_change(services, first, "T1") as t1, open_change(services, second, "T2") as t2:
        assert t1.txid < t2.txid and t1.change_id < t2.change_id
        await t2.commit()
        page = await feed(api, reader, after=cursor)
        assert page["edges"] == []  # T2's change waits for T1, which is still running
        assert decode_cursor(page["pageInfo"]["endCursor"]).txid < t1.txid  # the cursor has not passed T1
        cursor = page["pageInfo"]["endCursor"]
        # "Updated after my last timestamp" already takes T2's order and moves past T1's timestamp.
        naive = await updated_since(api, reader, naive_since)
        assert naive == [w["orders"][1]["number"]]
        naive_since = await newest_update(api, reader)
        await t1.commit()
    nodes, _ = await drain(api, reader, after=cursor)
    assert [(pk_of(node["id"]), node["order"]["number"]) for node in nodes] == [
        (t1.change_id, w["orders"][0]["number"]), (t2.change_id, w["orders"][1]["number"])]
    assert await updated_since(api, reader, naive_since) == []  # T1's change is lost to the naive reader

    # Reading every committed change (no settled line) in the same scenario skips T1's change.
    monkeypatch.setattr(order_changes, "settled", lambda dialect: true())
    monkeypatch.setattr(changes, "settled", lambda dialect: true())
    order_changes._page_statement.cache_clear()
    changes._head_statement.cache_clear()
    try:
        _, cursor = await drain(api, reader)
        async with open_change(services, first, "T1 again") as t1, open_change(services, second, "T2 again") as t2:
            await t2.commit()
            seen, cursor = await drain(api, reader, after=cursor, wait=False)
            assert [pk_of(node["id"]) for node in seen] == [t2.change_id]
            await t1.commit()
        seen, _ = await drain(api, reader, after=cursor)
        assert t1.change_id not in [pk_of(node["id"]) for node in seen]  # lost
    finally:
        order_changes._page_statement.cache_clear()
        changes._head_statement.cache_clear()


async def committed_change(services, order_pk: int, comment: str) -> int:
    async with open_change(services, order_pk, comment) as change:
        await change.commit()
    return change.change_id


async def newest_update(api, member) -> str:
    page = (await api.query(HISTORY, {"orderBy": "UPDATED_AT_DESC", "first": 1}, member.token))["orders"]
    return page["edges"][0]["node"]["updatedAt"]


async def updated_since(api, member, since: str) -> list[str]:
    """The naive reader: orders updated after the newest update time it has seen."""
    after = (datetime.fromisoformat(since) + timedelta(microseconds=1)).isoformat()
    data = await api.query(HISTORY, {"orderBy": "UPDATED_AT_ASC", "filter": {"updatedFrom": after}}, member.token)
    return [edge["node"]["number"] for edge in data["orders"]["edges"]]


async def test_a_reader_polling_while_writers_commit_in_random_order_sees_every_committed_change(api, services):
    """Writers open transactions that each write one change, wait a random while (so that they overlap
    and commit in another order than they began on PostgreSQL; SQLite runs them one at a time) and
    commit, or roll back one time in five. A reader polls the feed all along, following its cursor.
    In the end it has seen every committed change and none of a rolled-back one."""
    w = await order_change_world(api, services)
    reader = w["tenant"][Role.ADMIN]
    order_pks = [pk_of(o["id"]) for o in w["orders"]]
    _, cursor = await drain(api, reader)
    rng = random.Random(20261201)
    committed: set[int] = set()
    rolled_back: set[int] = set()
    writers_done = asyncio.Event()

    async def writer(number: int) -> None:
        for step in range(12):
            async with open_change(services, rng.choice(order_pks), f"writer {number} step {step}") as change:
                await asyncio.sleep(rng.random() * 0.03)
                if rng.random() < 0.2:
                    await change.rollback()
                    rolled_back.add(change.change_id)
                else:
                    await change.commit()
                    committed.add(change.change_id)

    seen: list[int] = []

    async def poll() -> None:
        # Until the writers are done and every committed change has come (a transaction of another
        # database of the same server can hold the settled line back for a moment: wait_for's deadline).
        nonlocal cursor
        while not (writers_done.is_set() and committed <= set(seen)):
            page = await feed(api, reader, after=cursor, first=rng.choice([1, 5, 100]))
            seen.extend(pk_of(edge["node"]["id"]) for edge in page["edges"])
            cursor = page["pageInfo"]["endCursor"]
            if not page["edges"]:
                await asyncio.sleep(0.01)  # a poller's pause between empty pages

    polling = asyncio.create_task(poll())
    await asyncio.gather(*(writer(n) for n in range(6)))
    writers_done.set()
    await asyncio.wait_for(polling, timeout=60)
    assert len(committed) > 40 and rolled_back
    assert set(seen) == committed
    assert not set(seen) & (rolled_back - committed)  # SQLite gives a rolled-back id to the next change
    assert len(seen) == len(set(seen))  # this reader never read a page twice


async def test_retention_keeps_what_the_webhook_dispatcher_has_not_read(api, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    nodes, _ = await drain(api, admin)
    page = await feed(api, admin, first=100)
    ids = [pk_of(node["id"]) for node in nodes]
    await age(services, ids, 91)
    # The dispatcher stands after the second change: the first two may go, the rest wait for it.
    reader = decode_cursor(page["edges"][1]["cursor"])
    async with services.db.transaction() as session:
        session.add(FeedPosition(name="webhooks", txid=reader.txid, change_id=reader.change_id))
    assert await prune_changes(services.db, utcnow(), retention_days=90) == 2
    async with services.db.read_sessions() as session:
        kept = set((await session.scalars(select(OrderChange.id))).all())
    assert [i for i in ids if i in kept] == ids[2:]
