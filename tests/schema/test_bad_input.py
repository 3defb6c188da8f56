"""Bad input gets a typed error in the API's own words, never INTERNAL_SERVER_ERROR, and writes nothing:
date-times without an offset, NUL and unpaired surrogates in any text, money strings that are not plain
ASCII decimals (huge exponents included), budget periods past 9999-12-31, and global ids and cursors in
any spelling but the one the API gives out. Each request is sent through the real app, on SQLite and on
PostgreSQL; the state of the caller's company (every row of it, the catalogue and each table's size) is
read back to prove that a refused request left it alone."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from models import Role
from models.money import NOT_AN_AMOUNT
from schema.input_policy import UNSTORABLE_TEXT_MESSAGE
from schema.relay import to_cursor
from schema.scalars import DATE_MESSAGE, DATE_TIME_MESSAGE, DATE_TIME_RANGE_MESSAGE, TIME_MESSAGE
from tests.factories import Api, Tenant, create_operator
from tests.ordering_helpers import create_product, gid, shop
from tests.policies.world import FULL_SNAPSHOT, changes

INVALID = {"code": "INVALID_INPUT"}
INT_MESSAGE = "Int cannot represent non 32-bit signed integer value"
ERROR = "... on MutationError { code message field }"
ORDERS = "query($f: OrderFilter) { orders(first: 5, filter: $f) { edges { node { id } } } }"
ARABIC_INDIC = str.maketrans("0123456789", "".join(map(chr, range(0x660, 0x66A))))
FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def post(api: Api, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    """The response body; the request is JSON with ASCII escapes, the only way an unpaired surrogate
    ("\\ud800") can travel, as any JSON library may send it."""
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    response = await api.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def without_cost(body: dict) -> dict:
    """The body without the query-cost report, which every answer carries."""
    return {key: value for key, value in body.items() if key != "extensions"}


async def state(api: Api, tenant: Tenant) -> dict:
    async with api.services.db.read_sessions() as session:
        rows = (await session.execute(FULL_SNAPSHOT, {"companies": [tenant.company_id]})).all()
    return {(table, key): value for table, key, value in rows}


@pytest.fixture
async def tenant(api: Api) -> Tenant:
    """A company with one signed-in member per role, a product, a submitted order and a monthly budget."""
    tenant = await shop(api)
    product, customer = await create_product(api.services), tenant[Role.CUSTOMER].token
    for name, arguments in (("addToCart", f'productId: "{gid("Product", product)}", quantity: 2'),
                            ("submitOrder", 'idempotencyKey: "bad-input-order"')):
        body = await post(api, f"mutation {{ {name}(input: {{{arguments}}}) {{ __typename }} }}", token=customer)
        assert body["data"][name]["__typename"] == "OrderPayload", body
    body = await post(api, f"""mutation {{ saveBudget(input: {{name: "Monthly", ownerType: GROUP, ownerId:
        "{tenant.group_gid}", period: MONTHLY, amount: "1000.00", action: WARN}}) {{ __typename {ERROR} }} }}""",
                      token=tenant[Role.ADMIN].token)
    assert body["data"]["saveBudget"]["__typename"] == "BudgetPayload", body
    return tenant


# --- dates and times ---------------------------------------------------------------------------------


async def test_a_date_time_without_an_offset_is_refused_in_the_apis_words(api, tenant):
    customer = tenant[Role.CUSTOMER].token
    literal = '{ orders(first: 5, filter: {submittedFrom: "2026-01-01T00:00:00"}) { edges { node { id } } } }'
    assert without_cost(await post(api, literal, token=customer)) == {"data": None, "errors": [
        {"message": DATE_TIME_MESSAGE, "locations": [{"line": 1, "column": 44}], "extensions": INVALID}]}
    body = await post(api, ORDERS, {"f": {"submittedTo": "2026-01-01T00:00:00"}}, customer)
    assert without_cost(body) == {"data": None, "errors": [{
        "message": f"Variable '$f' has invalid value at .submittedTo: {DATE_TIME_MESSAGE}",
        "locations": [{"line": 1, "column": 7}], "extensions": INVALID}]}


NOT_DATE_TIMES = [
    ("", DATE_TIME_MESSAGE), ("2026-01-01", DATE_TIME_MESSAGE), ("2026-02-30T10:00:00Z", DATE_TIME_MESSAGE),
    ("20260101T000000Z", DATE_TIME_MESSAGE), ("2026-01-01T00:00:00+25:00", DATE_TIME_MESSAGE),
    ("2026".translate(FULLWIDTH) + "-01-01T00:00:00Z", DATE_TIME_MESSAGE),
    ("0001-01-01T00:00:00+01:00", DATE_TIME_RANGE_MESSAGE),
    ("9999-12-31T23:59:59-00:01", DATE_TIME_RANGE_MESSAGE),
]


async def test_date_times_are_read_in_one_form(api, tenant):
    for value, message in NOT_DATE_TIMES:
        body = await post(api, ORDERS, {"f": {"submittedFrom": value}}, tenant[Role.CUSTOMER].token)
        assert without_cost(body) == {"data": None, "errors": [{
            "message": f"Variable '$f' has invalid value at .submittedFrom: {message}",
            "locations": [{"line": 1, "column": 7}], "extensions": INVALID}]}, value


async def test_a_date_time_with_an_offset_is_the_same_instant_in_utc(api, tenant):
    customer = tenant[Role.CUSTOMER].token
    (order,) = [edge["node"] for edge in (await api.query(
        "{ orders(first: 5) { edges { node { id submittedAt } } } }", token=customer))["orders"]["edges"]]
    submitted = datetime.fromisoformat(order["submittedAt"])
    assert submitted.utcoffset() == timedelta(0)  # answered in UTC
    east, west = timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))
    for start, found in (((submitted - timedelta(seconds=1)).astimezone(east), [order["id"]]),
                         ((submitted + timedelta(seconds=1)).astimezone(west), [])):
        body = await post(api, ORDERS, {"f": {"submittedFrom": start.isoformat()}}, customer)
        assert [edge["node"]["id"] for edge in body["data"]["orders"]["edges"]] == found, (start, body)


NOT_DATES = ["", "2026-1-5", "20260105", "2026-W01-1", "2026-02-30", "0000-01-01", "2026-01-05T00:00:00Z",
             "2026-01-05".translate(ARABIC_INDIC)]


async def test_a_date_is_read_in_one_form(api, tenant):
    admin = tenant[Role.ADMIN].token
    for value in NOT_DATES:
        body = await post(api, "query($d: Date) { budgets(date: $d) { id } }", {"d": value}, admin)
        assert without_cost(body) == {"data": None, "errors": [{
            "message": f"Variable '$d' has invalid value: {DATE_MESSAGE}", "locations": [{"line": 1, "column": 7}],
            "extensions": INVALID}]}, value
        literal = await post(api, f'{{ budgets(date: "{value}") {{ id }} }}', token=admin)
        assert without_cost(literal) == {"data": None, "errors": [
            {"message": DATE_MESSAGE, "locations": [{"line": 1, "column": 17}], "extensions": INVALID}]}, value


async def test_a_time_of_day_is_read_in_one_form_and_nothing_is_written(api, tenant):
    before = await state(api, tenant)
    query = """mutation($slots: [DeliverySlotInput!]!) { saveDeliveryLocation(input: {name: "Unit",
        address: {street: "Vei 1", postalCode: "0150", city: "Oslo"}, slots: $slots}) { __typename } }"""
    for value in ("9:30", "09:30+01:00", "24:00", "", "09:30:00Z"):
        body = await post(api, query, {"slots": [{"weekday": "MONDAY", "startsAt": value, "endsAt": "10:00"}]},
                          tenant[Role.ADMIN].token)
        assert without_cost(body) == {"data": None, "errors": [{
            "message": f"Variable '$slots' has invalid value at [0].startsAt: {TIME_MESSAGE}",
            "locations": [{"line": 1, "column": 10}], "extensions": INVALID}]}, value
    assert changes(before, await state(api, tenant)) == []


# --- text that no database stores ----------------------------------------------------------------------

UNSTORABLE = ["a\u0000b", "a\ud800b", "\udfff", "\u0000"]


async def test_nul_and_unpaired_surrogates_are_refused_before_anything_runs(api, tenant):
    before = await state(api, tenant)
    for text in UNSTORABLE:
        await _refuse_unstorable_variables(api, tenant, text)
    assert changes(before, await state(api, tenant)) == []


async def _refuse_unstorable_variables(api: Api, tenant: Tenant, text: str) -> None:
    admin, customer = tenant[Role.ADMIN].token, tenant[Role.CUSTOMER].token
    cases = [  # (query, variables, token, field, location)
        ("mutation($e: String!) { login(input: {email: $e, password: \"x\"}) { __typename } }", {"e": text}, None,
         "e", (1, 10)),
        ("mutation($i: LoginInput!) { login(input: $i) { __typename } }",
         {"i": {"email": tenant[Role.ADMIN].email, "password": text}}, None, "i.password", (1, 10)),
        ("query($s: String) { products(search: $s) { edges { node { id } } } }", {"s": text}, customer, "s", (1, 7)),
        (ORDERS, {"f": {"search": text}}, customer, "f.search", (1, 7)),
        ("mutation($i: CreateGroupInput!) { createGroup(input: $i) { __typename } }", {"i": {"name": text}}, admin,
         "i.name", (1, 10)),
        ("mutation($i: SetUserCostCentresInput!) { setUserCostCentres(input: $i) { __typename } }",
         {"i": {"userId": tenant[Role.CUSTOMER].gid, "costCentreIds": ["x", text]}}, admin, "i.costCentreIds.1",
         (1, 10)),
    ]
    for query, variables, token, field, (line, column) in cases:
        body = await post(api, query, variables, token)
        assert body == {"data": None, "errors": [{"message": UNSTORABLE_TEXT_MESSAGE, "locations": [
            {"line": line, "column": column}], "extensions": {**INVALID, "field": field}}]}, (query, body)


async def test_an_escape_in_a_string_literal_is_refused_the_same_way(api, tenant):
    before = await state(api, tenant)
    for escaped in ("\\u0000", "\\u{0}", "\\uD800", "\\u{DFFF}"):
        await _refuse_escapes(api, tenant, escaped)
    assert changes(before, await state(api, tenant)) == []


async def _refuse_escapes(api: Api, tenant: Tenant, escaped: str) -> None:
    admin, customer = tenant[Role.ADMIN].token, tenant[Role.CUSTOMER].token
    cases = [  # (query, token, field, column)
        (f'{{ products(search: "a{escaped}") {{ edges {{ node {{ id }} }} }} }}', customer, "search", 20),
        (f'{{ orders(filter: {{search: "{escaped}"}}) {{ edges {{ node {{ id }} }} }} }}', customer,
         "filter.search", 27),
        (f'mutation {{ updateCart(input: {{reference: "{escaped}"}}) {{ __typename }} }}', customer,
         "input.reference", 42),
        (f'mutation {{ saveCostCentre(input: {{name: "N", code: "X", invoiceAddress: {{street: "{escaped}", '
         f'postalCode: "0150", city: "Oslo"}}}}) {{ __typename }} }}', admin, "input.invoiceAddress.street", 82),
        (f'mutation {{ login(input: {{email: "{escaped}@example.com", password: "x"}}) {{ __typename }} }}', None,
         "input.email", 33),
        (f'query($s: String = "{escaped}") {{ products(search: $s) {{ edges {{ node {{ id }} }} }} }}', customer,
         "s", 20),
    ]
    for query, token, field, column in cases:
        body = await post(api, query, token=token)
        if escaped in ("\\uD800", "\\u{DFFF}"):  # graphql-core refuses an unpaired surrogate escape while parsing
            assert body["data"] is None, body
            assert body["errors"][0]["message"].startswith("Syntax Error: Invalid Unicode escape sequence"), body
            continue
        assert body == {"data": None, "errors": [{"message": UNSTORABLE_TEXT_MESSAGE, "locations": [
            {"line": 1, "column": column}], "extensions": {**INVALID, "field": field}}]}, (query, body)


# --- money --------------------------------------------------------------------------------------------

NOT_AMOUNTS = ["1e999999999", "1e309", "1E2", "-1e-999999999", "100".translate(ARABIC_INDIC), "1_000", "+100", "NaN",
               "Infinity", "1 000", "100.", ".5", "100".translate(FULLWIDTH)]


async def test_a_money_string_is_plain_ascii_digits_and_nothing_is_written(api, tenant):
    before = await state(api, tenant)
    for amount in NOT_AMOUNTS:
        await _refuse_amount(api, tenant, amount)
    assert changes(before, await state(api, tenant)) == []


async def _refuse_amount(api: Api, tenant: Tenant, amount: str) -> None:
    admin, customer = tenant[Role.ADMIN].token, tenant[Role.CUSTOMER].token
    limit = await post(api, f"""mutation($a: String) {{ setPurchaseLimit(input: {{userId: "{tenant[Role.CUSTOMER].gid}",
        perOrder: "100.00", perMonth: $a}}) {{ __typename {ERROR} }} }}""", {"a": amount}, admin)
    assert limit["data"] == {"setPurchaseLimit": {"__typename": "MutationError", "code": "INVALID_INPUT",
                                                  "message": NOT_AN_AMOUNT, "field": "perMonth"}}, (amount, limit)
    budget = await post(api, f"""mutation($a: String!) {{ saveBudget(input: {{name: "Big", ownerType: GROUP,
        ownerId: "{tenant.group_gid}", period: YEARLY, amount: $a, action: BLOCK}}) {{ __typename {ERROR} }} }}""",
                        {"a": amount}, admin)
    assert budget["data"] == {"saveBudget": {"__typename": "MutationError", "code": "INVALID_INPUT",
                                             "message": NOT_AN_AMOUNT, "field": "amount"}}, (amount, budget)
    history = await post(api, ORDERS, {"f": {"minTotal": amount}}, customer)
    assert without_cost(history) == {"data": None, "errors": [{
        "message": NOT_AN_AMOUNT, "locations": [{"line": 1, "column": 26}], "path": ["orders"],
        "extensions": {**INVALID, "field": "filter.minTotal"}}]}, amount


async def test_an_amount_of_ten_trillion_is_out_of_range_whatever_its_spelling(api, tenant):
    history = await post(api, ORDERS, {"f": {"maxTotal": "0000010000000000000.00"}}, tenant[Role.CUSTOMER].token)
    assert history["errors"][0]["message"] == "Amount out of range"
    fine = await post(api, ORDERS, {"f": {"maxTotal": "009999999999999.99"}}, tenant[Role.CUSTOMER].token)
    assert len(fine["data"]["orders"]["edges"]) == 1, fine


async def test_an_order_whose_total_would_not_fit_is_refused_and_nothing_is_written(api, tenant):
    operator_token = (await api.login(*await _operator(api)))["accessToken"]
    product = await post(api, """mutation { createProduct(input: {sku: "DEAR", name: "Dear", unit: "pcs",
        category: "Food", unitPrice: "9999999999999.99", vatRate: 25}) {
        ... on ProductPayload { product { id } } } }""",
                         token=operator_token)
    product_id = product["data"]["createProduct"]["product"]["id"]
    customer = tenant[Role.CUSTOMER].token
    added = await post(api, f"""mutation {{ addToCart(input: {{productId: "{product_id}", quantity: 100000}}) {{
        __typename }} }}""", token=customer)
    assert added["data"]["addToCart"]["__typename"] == "OrderPayload", added
    cart = await api.query("{ cart { totals { gross { amount } } } }", token=customer)
    assert cart["cart"]["totals"]["gross"]["amount"] == "1249999999999998750.00"  # shown exactly, never stored
    before = await state(api, tenant)
    body = await post(api, f"""mutation {{ submitOrder(input: {{idempotencyKey: "too-dear-order"}}) {{
        __typename {ERROR} }} }}""", token=customer)
    assert body["data"]["submitOrder"] == {"__typename": "MutationError", "code": "INVALID_INPUT", "field": None,
                                           "message": "An order's total may be at most 9999999999999.99"}
    assert changes(before, await state(api, tenant)) == []


async def _operator(api: Api) -> tuple[str, str]:
    member = await create_operator(api.services, email="dear.operator@example.com")
    return member.email, member.password


# --- budget periods at the end of the calendar -----------------------------------------------------------


async def test_a_budget_period_ending_after_9999_12_31_is_a_typed_error(api, tenant):
    admin = tenant[Role.ADMIN].token
    body = await post(api, '{ budgets(date: "9999-12-31") { id } }', token=admin)
    assert without_cost(body) == {"data": None, "errors": [{
        "message": "The budget period containing this day ends after 9999-12-31, the last day that can be handled",
        "locations": [{"line": 1, "column": 3}], "path": ["budgets"], "extensions": {**INVALID, "field": "date"}}]}
    november = await api.query('{ budgets(date: "9999-11-15") { periodStart periodEnd } }', token=admin)
    assert november["budgets"] == [{"periodStart": "9999-11-01", "periodEnd": "9999-11-30"}]


async def test_a_fixed_budget_ending_on_9999_12_31_is_refused_and_nothing_is_written(api, tenant):
    before = await state(api, tenant)
    for starts in ("2020-01-01", "9999-12-01"):  # covering today or not: refused all the same
        body = await post(api, f"""mutation {{ saveBudget(input: {{name: "Forever", ownerType: GROUP,
            ownerId: "{tenant.group_gid}", period: FIXED, startsOn: "{starts}", endsOn: "9999-12-31", amount: "10.00",
            action: WARN}}) {{ __typename {ERROR} }} }}""", token=tenant[Role.ADMIN].token)
        assert body["data"]["saveBudget"] == {
            "__typename": "MutationError", "code": "INVALID_INPUT", "field": "endsOn",
            "message": "The budget period containing this day ends after 9999-12-31, the last day that can be handled"}
    assert changes(before, await state(api, tenant)) == []


# --- one object, one id; one position, one cursor ---------------------------------------------------------


async def test_an_id_is_read_only_in_the_spelling_the_api_gives(api, tenant):
    customer = tenant[Role.CUSTOMER].token
    (edge,) = (await api.query("{ orders(first: 5) { edges { node { id } } } }", token=customer))["orders"]["edges"]
    order_id = edge["node"]["id"]
    pk = base64.urlsafe_b64decode(order_id + "==").decode().partition(":")[2]
    assert (await api.query("query($id: ID!) { order(id: $id) { id } }", {"id": order_id}, customer))["order"] == {
        "id": order_id}
    spellings = [b64("Order:²"), b64(f"Order:{pk.translate(ARABIC_INDIC)}"), b64(f"Order:0{pk}"), b64(f"Order:+{pk}"),
                 b64(f"Order: {pk}"), order_id + "==", order_id + "=", f"{order_id[:4]}!{order_id[4:]}",
                 b64(f"Order:{pk}0000000000000000000000"), b64("Order:99999999999"), b64("Order:-1"), ""]
    for spelling in spellings:
        for query, field in (("query($id: ID!) { order(id: $id) { id } }", "order"),
                             ("query($id: ID!) { node(id: $id) { id } }", "node")):
            body = await post(api, query, {"id": spelling}, customer)
            assert without_cost(body) == {"data": {field: None}}, (spelling, body)


async def test_an_id_in_another_spelling_signs_nobody_in_and_writes_nothing(api, tenant):
    admin = tenant[Role.ADMIN]
    login = f"""mutation($c: ID) {{ login(input: {{email: "{admin.email}", password: "{admin.password}",
        companyId: $c}}) {{ __typename {ERROR} }} }}"""
    before = await state(api, tenant)
    company = str(tenant.company_id)
    for spelling in (b64("Company:²"), b64(f"Company:{company.translate(ARABIC_INDIC)}"), b64(f"Company:0{company}"),
                     tenant.gid + "=="):
        body = await post(api, login, {"c": spelling})
        assert body["data"]["login"] == {"__typename": "MutationError", "code": "INVALID_CREDENTIALS",
                                         "message": "Invalid email or password", "field": None}, body
    assert changes(before, await state(api, tenant)) == []
    assert (await post(api, login, {"c": tenant.gid}))["data"]["login"]["__typename"] == "AuthPayload"


async def test_a_cursor_is_read_only_in_the_spelling_the_api_gives(api, tenant):
    admin = tenant[Role.ADMIN].token
    users = "query($after: String) { users(first: 1, after: $after) { edges { cursor } } }"
    (first,) = (await api.query(users, token=admin))["users"]["edges"]
    assert first["cursor"] == to_cursor(tenant[Role.ADMIN].membership_id)
    pk = str(tenant[Role.ADMIN].membership_id)
    for spelling in (b64("cursor:²"), b64(f"cursor:{pk.translate(ARABIC_INDIC)}"), b64(f"cursor:0{pk}"),
                     first["cursor"] + "==", b64("cursor:99999999999"), b64("cursor:-1")):
        body = await post(api, users, {"after": spelling}, admin)
        assert body["data"] is None, (spelling, body)
        assert body["errors"][0]["extensions"] == {**INVALID, "field": "after"}, (spelling, body)
        assert body["errors"][0]["message"] == "The cursor is not valid"
    history = "query($after: String) { orders(first: 1, after: $after) { edges { cursor } } }"
    (edge,) = (await api.query(history, token=admin))["orders"]["edges"]
    value, order_pk = json.loads(base64.urlsafe_b64decode(edge["cursor"] + "==="))
    submitted = datetime.fromisoformat(value["t"])
    for spelling in (json.dumps([value, order_pk]), f'[{{"t":"{submitted.astimezone(UTC).isoformat()}"}},{order_pk}.0]',
                     json.dumps([{"t": submitted.astimezone(timezone(timedelta(hours=1))).isoformat()}, order_pk]),
                     json.dumps([{"t": "0001-01-01T00:00:00+01:00"}, order_pk]), json.dumps([True, order_pk]),
                     json.dumps([2**70, order_pk]), json.dumps([value, 2**40]), json.dumps([value, True])):
        body = await post(api, history, {"after": b64(spelling)}, admin)
        assert body["data"] is None, (spelling, body)
        assert body["errors"][0]["extensions"] == {**INVALID, "field": "after"}, (spelling, body)


async def test_json_nested_deeper_than_the_parser_is_a_malformed_body(api, tenant):
    customer = {"authorization": f"Bearer {tenant[Role.CUSTOMER].token}"}
    query = "query($s: String) { products(search: $s) { edges { node { id } } } }"
    for depth, status in ((900, 200), (5_000, 400), (100_000, 400)):
        nested = "[" * depth + '"x"' + "]" * depth
        body = f'{{"query": {json.dumps(query)}, "variables": {{"s": {nested}}}}}'
        response = await api.client.post("/graphql", content=body.encode(),
                                         headers={"content-type": "application/json", **customer})
        assert response.status_code == status, (depth, response.text[:300])
        if status == 400:
            assert response.text == "Unable to parse request body as JSON"
        else:
            assert response.json()["errors"][0]["message"].startswith("Variable '$s' has invalid value: String cannot")
    deep = '{"s": ' + "[" * 5000 + "]" * 5000 + "}"
    response = await api.client.get("/graphql", params={"query": query, "variables": deep}, headers=customer)
    assert (response.status_code, response.text) == (400, "Unable to parse request body as JSON")


# --- integers beyond what a column holds ----------------------------------------------------------------------


async def test_integers_beyond_32_bits_are_refused_by_coercion(api, tenant):
    for value in (2**31, 2**63, 2**70, -(2**64)):
        body = await post(api, "query($n: Int!) { orders(first: $n) { edges { node { id } } } }", {"n": value},
                          tenant[Role.CUSTOMER].token)
        assert without_cost(body) == {"data": None, "errors": [{
            "message": f"Variable '$n' has invalid value: {INT_MESSAGE}: {value}",
            "locations": [{"line": 1, "column": 7}]}]}
