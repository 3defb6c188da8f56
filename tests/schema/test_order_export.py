"""The bulk export over HTTP through the ASGI app (GET /export/orders.ndjson and .csv) and from the
command line: what each caller gets (the same visibility as `orders`), how orders and lines are written,
filters and bad parameters, authentication (a signed-in user or an API client), the change-feed cursor
it hands over (no change lost between the export and the feed, also with a transaction still running),
retention, and a few thousand orders streamed in batches."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from sqlalchemy import insert, update

from app import create_app
from exports.order_format import CSV_COLUMNS
from models import Company, Order, OrderLine, Role
from models.base import utcnow
from resolvers.changes import decode_cursor, prune_changes
from tests.change_helpers import all_settled, drain, open_change, order_change_world
from tests.conftest import test_settings as make_test_settings
from tests.factories import Api
from tests.ordering_helpers import create_product, gid, pk_of, place_order, shop
from tests.test_cli import procura

ORDERS = """query { orders(first: 100, orderBy: SUBMITTED_AT_ASC) { edges { node {
  id number status reference poNumber createdAt submittedAt updatedAt
  buyer { userId name email } group { groupId name }
  totals { net { amount } vat { amount } gross { amount currency } credited { amount } }
  lines { id productId sku name unit quantity unitPrice { amount } vatRate net { amount } vat { amount }
          gross { amount } substitutionAllowed returnedQuantity } } } } }"""


async def export(client: httpx.AsyncClient, fmt: str, token: str | None, **params) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.get(f"/export/orders.{fmt}", params=params, headers=headers)


def ndjson_lines(response: httpx.Response) -> tuple[list[dict], dict]:
    """The order objects and the end line of an NDJSON export."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert lines and lines[-1]["__typename"] == "ExportEnd", lines[-1:]
    orders, end = lines[:-1], lines[-1]
    assert all(order["__typename"] == "Order" for order in orders)
    assert end["orders"] == len(orders)
    assert end["feedCursor"] == response.headers["x-procura-feed-cursor"]
    return orders, end


def csv_rows(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(response.content.decode()))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


async def numbers_of(client, token: str, **params) -> list[str]:
    orders, _ = ndjson_lines(await export(client, "ndjson", token, **params))
    return [order["number"] for order in orders]


# --- what an export holds ------------------------------------------------------------------------------------------

async def test_ndjson_holds_each_order_with_its_lines_as_the_api_shows_them(api, client, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    two_lines = await create_product(services, "MUG", 1999, 15)
    fourth = await place_order(api, w["tenant"][Role.CUSTOMER], [(w["product"], 1), (two_lines, 3)],
                               reference="=HYPERLINK(\"x\")", poNumber="PO-77")
    response = await export(client, "ndjson", admin.token)
    orders, _ = ndjson_lines(response)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith('attachment; filename="orders-')
    listed = [edge["node"] for edge in (await api.query(ORDERS, token=admin.token))["orders"]["edges"]]
    assert [order["number"] for order in orders] == [o["number"] for o in listed]  # oldest submitted first
    assert fourth["number"] == orders[-1]["number"]
    for exported, shown in zip(orders, listed, strict=True):
        assert exported["id"] == shown["id"] and exported["status"] == shown["status"]
        assert (exported["createdAt"], exported["submittedAt"], exported["updatedAt"]) == (
            shown["createdAt"], shown["submittedAt"], shown["updatedAt"])
        assert exported["buyer"] == shown["buyer"] and exported["group"] == shown["group"]
        assert exported["reference"] == shown["reference"] and exported["poNumber"] == shown["poNumber"]
        assert exported["currency"] == shown["totals"]["gross"]["currency"] == "NOK"
        assert {k: exported["totals"][k] for k in ("net", "vat", "gross", "credited")} == {
            k: shown["totals"][k]["amount"] for k in ("net", "vat", "gross", "credited")}
        assert [line["id"] for line in exported["lines"]] == [line["id"] for line in shown["lines"]]
        for line, shown_line in zip(exported["lines"], shown["lines"], strict=True):
            assert line == {**shown_line, "unitPrice": shown_line["unitPrice"]["amount"],
                            "net": shown_line["net"]["amount"], "vat": shown_line["vat"]["amount"],
                            "gross": shown_line["gross"]["amount"]}
    last = orders[-1]
    assert last["totals"] == {"net": "159.97", "vat": "34.00", "gross": "193.97", "credited": "0.00",
                              "vatBreakdown": [{"rate": 25, "net": "100.00", "vat": "25.00"},
                                               {"rate": 15, "net": "59.97", "vat": "9.00"}]}
    assert [(line["sku"], line["quantity"], line["unitPrice"]) for line in last["lines"]] == [
        (f"BOX-{w['tenant'].company_id}", 1, "100.00"), ("MUG", 3, "19.99")]
    assert last["reference"] == '=HYPERLINK("x")'  # JSON is data: written as it is
    assert datetime.fromisoformat(last["submittedAt"]).utcoffset() == timedelta(0)
    assert last["paymentMethod"] == "CARD" and last["endCustomer"] is None
    assert last["delivery"]["address"] == {"street": "Gate 1", "postalCode": "0150", "city": "Oslo"}


async def test_csv_has_a_row_per_line_with_the_order_repeated(api, client, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    box = await create_product(services, "BOX", 10000, 25)
    mug = await create_product(services, "MUG", 1999, 15)
    one = await place_order(api, tenant[Role.CUSTOMER], [(box, 2)], reference="Ward 3")
    two = await place_order(api, tenant[Role.CUSTOMER], [(box, 1), (mug, 3)], reference="=cmd|' /C calc'!A0",
                            poNumber="+47 123")
    rows = csv_rows(await export(client, "csv", tenant[Role.ADMIN].token))
    assert [(row["order_number"], row["sku"], row["quantity"], row["line_net"]) for row in rows] == [
        (one["number"], "BOX", "2", "200.00"), (two["number"], "BOX", "1", "100.00"),
        (two["number"], "MUG", "3", "59.97")]
    assert rows[1]["order_id"] == rows[2]["order_id"] == two["id"]
    assert rows[1]["order_gross"] == rows[2]["order_gross"] == "193.97"
    assert rows[0]["status"] == "APPROVED" and rows[0]["reference"] == "Ward 3"
    assert rows[0]["buyer_id"] == tenant[Role.CUSTOMER].gid and rows[0]["line_id"] == one["lines"][0]["id"]
    assert rows[2]["product_id"] == gid("Product", mug) and rows[2]["vat_rate"] == "15"
    assert rows[0]["substitution_allowed"] == "true" and rows[0]["unit_price"] == "100.00"
    assert datetime.fromisoformat(rows[0]["submitted_at"]).utcoffset() == timedelta(0)
    # Free text that a spreadsheet would run as a formula is disarmed with a leading apostrophe.
    assert rows[1]["reference"] == "'=cmd|' /C calc'!A0" and rows[1]["po_number"] == "'+47 123"


async def test_each_caller_exports_only_the_orders_they_may_see(api, client, services):
    w = await order_change_world(api, services)
    tenant, other = w["tenant"], w["other"]
    o1, o2, o3 = (o["number"] for o in w["orders"])
    theirs = w["theirs"]["number"]
    assert await numbers_of(client, tenant[Role.ADMIN].token) == [o1, o2, o3]
    assert await numbers_of(client, tenant[Role.MANAGER].token) == [o1, o2, o3]
    assert await numbers_of(client, tenant[Role.CUSTOMER].token) == [o1, o2]  # their own
    assert await numbers_of(client, tenant[Role.ORDER_APPROVER].token) == [o2]  # the one they decided
    assert await numbers_of(client, other[Role.CUSTOMER].token) == [theirs]
    assert await numbers_of(client, other[Role.ADMIN].token) == [theirs]
    rows = csv_rows(await export(client, "csv", other[Role.ADMIN].token))
    assert {row["order_number"] for row in rows} == {theirs}
    assert set(await numbers_of(client, w["op"].token)) >= {o1, o2, o3, theirs}  # the operator fulfils them all


async def test_without_a_caller_401_and_without_the_right_to_read_orders_403(api, client, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    for response in (await export(client, "ndjson", None), await export(client, "csv", "not-a-token"),
                     await export(client, "ndjson", "prc_" + "x" * 40)):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    # API clients: ORDERS_READ exports the company's orders; a client without it may read none.
    secrets = {}
    for scopes in (["ORDERS_READ"], ["CATALOGUE_READ", "INVOICES_READ"]):
        body = await api.mutate(
            "createApiClient", "CreateApiClientInput",
            "__typename ... on ApiClientSecretPayload { secret } ... on MutationError { code message }",
            {"name": "+".join(scopes), "scopes": scopes}, admin.token)
        secrets[scopes[0]] = body["data"]["createApiClient"]["secret"]
    assert await numbers_of(client, secrets["ORDERS_READ"]) == await numbers_of(client, admin.token)
    refused = await export(client, "csv", secrets["CATALOGUE_READ"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    # An unknown format is not found (after authentication, like the rest).
    assert (await export(client, "xml", admin.token)).status_code == 404


# --- filters and parameters ---------------------------------------------------------------------------------------

async def test_the_orders_filters_apply(api, client, services):
    w = await order_change_world(api, services)
    token = w["tenant"][Role.ADMIN].token
    o1, o2, o3 = w["orders"]
    async with services.db.transaction() as session:
        for order, day in ((o1, 1), (o2, 2), (o3, 3)):
            await session.execute(update(Order).where(Order.id == pk_of(order["id"])).values(
                submitted_at=datetime(2026, 5, day, tzinfo=UTC), updated_at=datetime(2026, 6, day, tzinfo=UTC)))
    assert await numbers_of(client, token, statuses="FULFILLED,CANCELLED") == [o1["number"], o3["number"]]
    response = await client.get("/export/orders.ndjson", params=[("statuses", "APPROVED"), ("statuses", "FULFILLED")],
                                headers={"authorization": f"Bearer {token}"})
    assert [order["number"] for order in ndjson_lines(response)[0]] == [o1["number"], o2["number"]]
    assert await numbers_of(client, token, submittedFrom="2026-05-02T00:00:00Z") == [o2["number"], o3["number"]]
    assert await numbers_of(client, token, submittedTo="2026-05-02T00:00:00+00:00") == [o1["number"]]
    assert await numbers_of(client, token, updatedFrom="2026-06-02T00:00:00Z",
                            updatedTo="2026-06-03T00:00:00Z") == [o2["number"]]
    assert await numbers_of(client, token, reference="SECO") == [o2["number"]]
    assert await numbers_of(client, token, buyerId=w["tenant"][Role.MANAGER].gid) == [o3["number"]]
    assert await numbers_of(client, token, buyerId=w["other"][Role.CUSTOMER].gid) == []  # not theirs: nothing
    assert await numbers_of(client, token, minTotal="200", maxTotal="300.00") == [o2["number"]]
    assert await numbers_of(client, token, search=o3["number"].lower()) == [o3["number"]]


@pytest.mark.parametrize(("params", "parameter", "message"), [
    ({"status": "APPROVED"}, "status", "Unknown parameter 'status'"),
    ({"statuses": "SHIPPED"}, "statuses", "unknown: SHIPPED"),
    ({"submittedFrom": "yesterday"}, "submittedFrom", "not an ISO 8601 date and time: 'yesterday'"),
    ({"updatedTo": "2026-06-01T00:00:00"}, "updatedTo", "updatedTo needs a UTC offset"),
    ({"buyerId": "nobody"}, "buyerId", "buyerId is not the id of a User"),
    ({"groupId": gid("User", 1)}, "groupId", "groupId is not the id of a Group"),
    ({"minTotal": "12,50"}, "minTotal", "minTotal: Not a decimal amount"),
    ({"after": "not-a-cursor"}, "after", "after is not a change-feed cursor"),
    ([("reference", "a"), ("reference", "b")], "reference", "reference is given 2 times"),
])
async def test_bad_parameters_are_400_with_a_json_error(api, client, params, parameter, message):
    tenant = await shop(api, [Role.ADMIN])
    for fmt in ("ndjson", "csv"):
        response = await client.get(f"/export/orders.{fmt}", params=params,
                                    headers={"authorization": f"Bearer {tenant[Role.ADMIN].token}"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["parameter"]) == ("INVALID_INPUT", parameter)
        assert message in error["message"], error


# --- the change-feed cursor ---------------------------------------------------------------------------------------

async def test_the_export_cursor_continues_the_feed_without_losing_a_change(api, client, services):
    """Export, then follow the feed from the export's cursor: every change after the export arrives, and
    an export `after` a cursor holds the orders changed since. A transaction still running during the
    export (PostgreSQL) is below the cursor handed out, so its change comes through the feed."""
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    o1, _, o3 = w["orders"]
    await all_settled(services)
    _, end = ndjson_lines(await export(client, "ndjson", admin.token))
    cursor = end["feedCursor"]
    assert (await drain(api, admin, after=cursor))[0] == []
    assert ndjson_lines(await export(client, "ndjson", admin.token, after=cursor))[0] == []

    if services.db.dialect == "postgresql":
        async with open_change(services, pk_of(o1["id"]), "still running") as running:
            response = await export(client, "csv", admin.token, after=cursor)
            assert csv_rows(response) == []
            during = response.headers["x-procura-feed-cursor"]
            assert decode_cursor(during).txid < running.txid  # not past the running transaction
            await running.commit()
    else:
        async with open_change(services, pk_of(o1["id"]), "written") as change:
            await change.commit()
        during = cursor
    nodes, _ = await drain(api, admin, after=during)
    assert [(node["order"]["number"], node["kind"]) for node in nodes] == [(o1["number"], "WARNING")]

    async with open_change(services, pk_of(o3["id"]), "later") as change:
        await change.commit()
    await all_settled(services)
    changed = ndjson_lines(await export(client, "ndjson", admin.token, after=cursor))[0]
    assert [order["number"] for order in changed] == [o1["number"], o3["number"]]
    assert changed[1]["warnings"] == [] and changed[1]["status"] == "CANCELLED"


async def test_a_cursor_behind_retention_is_410(api, client, services):
    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    await all_settled(services)
    _, last_seen = await drain(api, admin, first=1)
    _, caught_up = await drain(api, admin, after=last_seen)  # an empty page: past the other company's changes
    first_cursor = (await api.query("{ orderChanges(first: 1) { pageInfo { endCursor } } }",
                                    token=admin.token))["orderChanges"]["pageInfo"]["endCursor"]
    assert await prune_changes(services.db, utcnow() + timedelta(days=91)) > 0
    response = await export(client, "ndjson", admin.token, after=first_cursor)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "CHANGES_EXPIRED"
    assert response.json()["error"]["parameter"] == "after"
    # The caught-up cursor is not behind anything deleted; a full export gives a fresh one.
    assert ndjson_lines(await export(client, "ndjson", admin.token, after=caught_up))[0] == []
    orders, end = ndjson_lines(await export(client, "ndjson", admin.token))
    assert len(orders) == 3 and end["feedCursor"] == caught_up


# --- streaming ----------------------------------------------------------------------------------------------------

async def bulk_orders(services, company_id: int, group_id: int, buyer_id: int, count: int) -> None:
    """`count` approved orders with two lines each, submitted a minute apart (newest last)."""
    box = await create_product(services, f"BULK-A-{company_id}", 1000, 25)
    mug = await create_product(services, f"BULK-B-{company_id}", 333, 15)
    start = utcnow() - timedelta(days=30)
    rows = [dict(company_id=company_id, buyer_id=buyer_id, group_id=group_id, status="approved",
                 number=f"PO-2026-{index + 1:06d}", currency="NOK", reference=f"Ref {index}",
                 delivery_street="Gate 1", delivery_postal_code="0150", delivery_city="Oslo", payment_method="card",
                 net_minor=1333, vat_minor=300, gross_minor=1633, submitted_at=start + timedelta(minutes=index),
                 created_at=start, updated_at=start, warnings=[])
            for index in range(count)]
    async with services.db.transaction() as session:
        ids = (await session.scalars(insert(Order).returning(Order.id), rows)).all()
        await session.execute(insert(OrderLine), [
            dict(order_id=order_id, product_id=product, quantity=1, sku=sku, name=sku, unit="piece",
                 unit_price_minor=price, vat_rate=rate, net_minor=price, vat_minor=vat, substitution_allowed=True,
                 returned_quantity=0)
            for order_id in ids for product, sku, price, rate, vat in ((box, "BULK-A", 1000, 25, 250),
                                                                       (mug, "BULK-B", 333, 15, 50))])


async def call_app(app, path: str, token: str, *, disconnect_after: int | None = None) -> tuple[int, list[bytes]]:
    """The response of one GET straight through the ASGI app: its status and every body message, as sent.
    With `disconnect_after`, the client goes away after that many body messages."""
    gone = asyncio.Event()
    requested = False
    bodies: list[bytes] = []
    status = 0

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            bodies.append(message.get("body", b""))
            if disconnect_after is not None and len(bodies) >= disconnect_after:
                gone.set()

    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
             "client": ("203.0.113.7", 40000), "server": ("testserver", 80), "state": {}}
    await app(scope, receive, send)
    gone.set()
    return status, bodies


async def test_a_few_thousand_orders_stream_in_batches(database_url):
    settings = make_test_settings(database_url, export_batch_size=250)
    application = create_app(settings)
    services = application.state.services
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http:
            api = Api(http, services)
            tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
            other = await shop(api, [Role.ADMIN])
            await bulk_orders(services, tenant.company_id, tenant.group_id, tenant[Role.CUSTOMER].membership_id,
                              3000)
            await bulk_orders(services, other.company_id, other.group_id, other[Role.ADMIN].membership_id, 10)
            token = tenant[Role.ADMIN].token
            assert token is not None
            status, bodies = await call_app(application, "/export/orders.ndjson", token)
            assert status == 200
            # One message per batch of 250, then the end line (and the empty closing message).
            assert [len(body.splitlines()) for body in bodies if body] == [250] * 12 + [1]
            lines = [orjson.loads(line) for body in bodies for line in body.splitlines()]
            numbers = [line["number"] for line in lines[:-1]]
            assert numbers == [f"PO-2026-{index:06d}" for index in range(1, 3001)]  # each once, in order
            assert lines[-1] == {"__typename": "ExportEnd", "orders": 3000, "feedCursor": lines[-1]["feedCursor"]}
            assert all(len(line["lines"]) == 2 for line in lines[:-1])

            status, bodies = await call_app(application, "/export/orders.csv?statuses=APPROVED", token)
            rows = list(csv.reader(io.StringIO(b"".join(bodies).decode())))
            assert status == 200 and len(rows) == 1 + 6000
            assert {row[1] for row in rows[1:]} == set(numbers)

            # A client that goes away mid-stream: the export stops and gives its connection back.
            pool = services.db.engine.sync_engine.pool
            status, bodies = await call_app(application, "/export/orders.ndjson", token, disconnect_after=2)
            assert status == 200 and len([body for body in bodies if body]) < 13
            assert pool.checkedout() == 0
    finally:
        await services.mailer.drain()
        from tests.conftest import _empty_tables
        await _empty_tables(services.db)
        await services.db.dispose()


# --- procura export-orders ----------------------------------------------------------------------------------------

async def test_the_command_line_exports_a_company(api, services, database_url, tmp_path):
    w = await order_change_world(api, services)
    await all_settled(services)
    async with services.db.read_sessions() as session:
        company = await session.get(Company, w["tenant"].company_id)
    assert company is not None
    org_number = company.org_number
    environment = {"DATABASE_URL": database_url, "PROCURA_ENV": "test"}
    out = tmp_path / "orders.ndjson"
    result = await asyncio.to_thread(procura, "export-orders", "--company", org_number, "--output", str(out),
                                     cwd=tmp_path, **environment)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["number"] for line in lines[:-1]] == [o["number"] for o in w["orders"]]
    cursor = lines[-1]["feedCursor"]
    assert result.stderr.strip() == f"Feed cursor: {cursor}"

    result = await asyncio.to_thread(procura, "export-orders", "--company", org_number, "--format", "csv",
                                     "--status", "CANCELLED", "--status", "FULFILLED", cwd=tmp_path, **environment)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["order_number"] for row in rows] == [w["orders"][0]["number"], w["orders"][2]["number"]]

    for args, message in ((("--company", "910000004"), "No company with organisation number 910000004"),
                          (("--company", "123"), "organisation number"),
                          (("--company", org_number, "--submitted-from", "soon"), "submittedFrom is not an ISO")):
        result = await asyncio.to_thread(procura, "export-orders", *args, cwd=tmp_path, **environment)
        assert result.returncode == 1 and message in result.stderr, result.stderr



def test_the_export_writes_amounts_and_ids_exactly_as_the_api_does():
    from exports.order_format import amount, unique_id
    from models.money import format_amount
    from schema.relay import to_global_id

    for minor in [*range(-250, 250), 10**15 - 1, -(10**15) + 1, 123_456_789]:
        assert amount(minor) == format_amount(minor), minor
    for pk in [1, 9, 10, 99, 100, 12_345, 2**31 - 1]:
        for type_name in ("Order", "OrderLine"):
            assert unique_id(type_name, pk) == to_global_id(type_name, pk)


async def test_head_answers_the_headers_of_a_get_without_reading_an_order(api, client, services):
    from sqlalchemy import event

    w = await order_change_world(api, services)
    admin = w["tenant"][Role.ADMIN]
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        head = await client.head("/export/orders.csv", headers={"authorization": f"Bearer {admin.token}"})
    finally:
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", record)
    get = await export(client, "csv", admin.token)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert decode_cursor(head.headers["x-procura-feed-cursor"]) == decode_cursor(get.headers["x-procura-feed-cursor"])
    assert not [s for s in statements if "order_lines" in s], statements
    assert (await client.head("/export/orders.csv")).status_code == 401
