"""Query cost (schema/cost.py): priced before execution, refused above MAX_QUERY_COST with
QUERY_TOO_COMPLEX, reported in `extensions.cost` of every operation that runs; and no field
suggestions in production error messages."""

from __future__ import annotations

import pytest
from graphql import build_schema as build_sdl_schema
from graphql import (
    get_introspection_query,
    get_named_type,
    is_interface_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
)
from sqlalchemy import event

from models import Role
from schema import build_schema
from schema.cost import INTROSPECTION_COST, LIST_SIZES, price_operation
from settings import Settings
from tests.ordering_helpers import shop
from tests.schema.test_api_conventions import other_app
from tests.schema.test_order_history import bulk_orders

MAXIMUM = 25_000

# Every field of an order. Per order: the order 1; buyer, group, end customer, cost centre 4;
# lines 10 x (line + unitPrice, net, vat, gross) = 50; totals 1 + net, vat, gross, credited 4
# + vatBreakdown 5 x (item + net + vat) = 20; delivery, address, slot 3; timeline 5 x 1 = 5;
# approvalFlow 1 + rules 2 x (rule + tiers 5 x 1) = 13: 96, and its edge 1: 97 an edge.
ORDER = """__typename id number status reference poNumber paymentMethod createdAt submittedAt warnings
  buyer { name email } group { name } endCustomer { name note } costCentre { name code }
  lines { sku name unit quantity vatRate unitPrice { amount currency } net { amount } vat { amount } gross { amount } }
  totals { net { amount currency } vat { amount } gross { amount } credited { amount }
           vatBreakdown { rate net { amount } vat { amount } } }
  delivery { locationName date address { street postalCode city } slot { weekday startsAt endsAt } }
  timeline { kind fromStatus toStatus comment at actorName }
  approvalFlow { viewerActions rules { ruleName reason tiers { level status approverRoles decidedBy } } }"""
# The connection 1 + first x 97 + pageInfo 1.
PAGE = f"""query($first: Int!) {{ orders(first: $first) {{ edges {{ cursor node {{ {ORDER} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"""
# The queued order 1 + its order 96 + budgetImpact 3 x (item + 4 amounts) = 112, its edge 1: 113 an edge.
QUEUE_PAGE = f"""approvalQueue(first: $first) {{ edges {{ cursor node {{ order {{ {ORDER} }}
  budgetImpact {{ budgetName orderAmount {{ amount }} budgetAmount {{ amount }} committed {{ amount }}
                  remaining {{ amount }} }} }} }}
  pageInfo {{ hasNextPage }} }}"""


def page_cost(first: int) -> int:
    return 2 + 97 * first


# The attack of the issue: 30 aliases of a page of 100 orders with lines, timeline and approval flow.
# An order: 1 + lines 10 + timeline 5 + approvalFlow 13 = 29, its edge 30; a page 1 + 100 x 30 = 3,001.
ATTACK_ORDER = ("id number status lines { id quantity } timeline { kind at } "
                "approvalFlow { viewerActions rules { ruleName tiers { level status } } }")
ATTACK = "{ " + " ".join(f"a{i}: orders(first: 100) {{ edges {{ node {{ {ATTACK_ORDER} }} }} }}"
                         for i in range(30)) + " }"
ATTACK_COST = 30 * 3_001


def cost_of(body: dict, maximum: int = MAXIMUM) -> int:
    assert body["extensions"]["cost"]["maximumQueryCost"] == maximum, body
    return body["extensions"]["cost"]["requestedQueryCost"]


def refusal(cost: int, maximum: int = MAXIMUM) -> dict:
    return {"data": None, "errors": [{
        "message": f"The query costs {cost}, more than the maximum of {maximum} per request.",
        "extensions": {"code": "QUERY_TOO_COMPLEX", "cost": cost, "maximumCost": maximum}}]}


class Statements:
    """Every statement the engine sends while in use."""

    def __init__(self, services) -> None:
        self.engine, self.sent = services.db.engine.sync_engine, []

    def record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append(statement)

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self.record)
        return self.sent

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self.record)


# --- the limit ----------------------------------------------------------------------------------


async def test_the_default_maximum():
    assert Settings(_env_file=None).max_query_cost == MAXIMUM


async def test_the_thirty_alias_attack_is_refused_before_anything_runs(api, client, services):
    tenant = await shop(api, [Role.MANAGER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.MANAGER].membership_id], 3)
    headers = {"authorization": f"Bearer {tenant[Role.MANAGER].token}"}
    with Statements(services) as sent:
        response = await client.post("/graphql", json={"query": ATTACK}, headers=headers)
    # Answered as validation errors are: HTTP 200, no data; and not one statement reached the database.
    assert response.status_code == 200
    assert response.json() == refusal(ATTACK_COST)
    assert sent == []
    invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers=headers)
    assert invalid.status_code == response.status_code and invalid.json()["data"] is None
    # The same over GET.
    response = await client.get("/graphql", params={"query": ATTACK}, headers=headers)
    assert (response.status_code, response.json()) == (200, refusal(ATTACK_COST))
    # One of those pages alone runs.
    one = "{ " + ATTACK.split(" a1:")[0].removeprefix("{ ") + " }"
    with Statements(services) as sent:
        body = await api.raw(one, token=tenant[Role.MANAGER].token)
    assert "errors" not in body and len(body["data"]["a0"]["edges"]) == 3
    assert sent  # the same listener sees a page's statements
    assert cost_of(body) == 3_001


async def test_a_full_page_of_100_orders_is_accepted_and_reports_its_cost(api, services):
    tenant = await shop(api, [Role.MANAGER, Role.CUSTOMER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.CUSTOMER].membership_id], 101)
    body = await api.raw(PAGE, {"first": 100}, tenant[Role.MANAGER].token)
    assert "errors" not in body, body["errors"]
    page = body["data"]["orders"]
    assert len(page["edges"]) == 100 and page["pageInfo"]["hasNextPage"] is True
    assert [line["sku"] for line in page["edges"][0]["node"]["lines"]] == ["A", "B"]
    assert body["extensions"] == {"cost": {"requestedQueryCost": 9_702, "maximumQueryCost": MAXIMUM}}
    assert page_cost(100) == 9_702


async def test_the_approval_queue_with_an_order_page_in_one_request_passes(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.CUSTOMER].membership_id], 2)
    queue = f"query($first: Int!) {{ {QUEUE_PAGE} }}"
    body = await api.raw(queue, {"first": 100}, tenant[Role.ADMIN].token)
    assert "errors" not in body and body["data"]["approvalQueue"]["edges"] == []
    assert cost_of(body) == 2 + 113 * 100
    both = f"""query($first: Int!) {{ {QUEUE_PAGE}
      orders(first: $first) {{ edges {{ cursor node {{ {ORDER} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
    body = await api.raw(both, {"first": 100}, tenant[Role.ADMIN].token)
    assert "errors" not in body and len(body["data"]["orders"]["edges"]) == 2
    assert cost_of(body) == 2 + 113 * 100 + page_cost(100) == 21_004


async def test_the_maximum_is_a_setting_and_a_cost_equal_to_it_passes(api, services, database_url):
    tenant = await shop(api, [Role.MANAGER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.MANAGER].membership_id], 5)
    token = tenant[Role.MANAGER].token
    async with other_app(database_url, max_query_cost=page_cost(3)) as (_, small_api):
        body = await small_api.raw(PAGE, {"first": 3}, token)
        assert "errors" not in body and len(body["data"]["orders"]["edges"]) == 3
        assert cost_of(body, page_cost(3)) == 293
        assert await small_api.raw(PAGE, {"first": 4}, token) == refusal(page_cost(4), 293)


# --- how a query is priced ----------------------------------------------------------------------


async def test_first_comes_from_the_argument_a_variable_or_a_default(api):
    tenant = await shop(api, [Role.MANAGER])
    token = tenant[Role.MANAGER].token
    # The same document with different variable values: each priced by its own value.
    for first in (3, 100, 3, 0, 57):
        assert cost_of(await api.raw(PAGE, {"first": first}, token)) == page_cost(first)
    # The variable's default, then the argument's own default (50).
    with_default = PAGE.replace("$first: Int!", "$first: Int! = 7")
    assert cost_of(await api.raw(with_default, {}, token)) == page_cost(7)
    assert cost_of(await api.raw(with_default, {"first": 8}, token)) == page_cost(8)
    no_first = PAGE.replace("query($first: Int!) ", "").replace("orders(first: $first)", "orders")
    assert cost_of(await api.raw(no_first, {}, token)) == page_cost(50)
    # Above the largest page the resolver refuses; the price counts the largest page.
    body = await api.raw(PAGE, {"first": 1000}, token)
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "first"}
    assert cost_of(body) == page_cost(100)
    body = await api.raw(PAGE, {"first": -5}, token)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT" and cost_of(body) == page_cost(0)


async def test_fragments_directives_and_variables_are_resolved(api, services):
    tenant = await shop(api, [Role.MANAGER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.MANAGER].membership_id], 2)
    token = tenant[Role.MANAGER].token
    # The attack through a named fragment, an inline fragment and a fragment on an interface.
    spread = ("query($n: Int!) { " + " ".join(f"a{i}: orders(first: $n) {{ ...Page }}" for i in range(30)) + " }"
              " fragment Page on OrderConnection { edges { node { ... on Order { ...Fields } ... on Node { id } } } }"
              f" fragment Fields on Order {{ {ATTACK_ORDER} }}")
    assert await api.raw(spread, {"n": 100}, token) == refusal(ATTACK_COST)
    body = await api.raw(spread, {"n": 2}, token)
    assert "errors" not in body and cost_of(body) == 30 * (1 + 2 * 30)
    # @include/@skip with variables: only what runs is priced.
    guarded = ("query($all: Boolean!, $lines: Boolean!) { " + " ".join(
        f"a{i}: orders(first: 100) @include(if: $all) {{ edges {{ node {{ {ATTACK_ORDER} }} }} }}"
        for i in range(29)) + " one: orders(first: 100) { edges { node { id lines @skip(if: $lines) { id } } } } }")
    body = await api.raw(guarded, {"all": False, "lines": True}, token)
    assert set(body["data"]) == {"one"} and cost_of(body) == 1 + 100 * 2
    body = await api.raw(guarded, {"all": False, "lines": False}, token)
    assert body["data"]["one"]["edges"][0]["node"]["lines"] and cost_of(body) == 1 + 100 * (2 + 10)
    assert await api.raw(guarded, {"all": True, "lines": True}, token) == refusal(29 * 3_001 + 201)
    # The same field twice under one response key is one field; aliases are each their own.
    body = await api.raw("{ orders(first: 10) { edges { node { id } } } orders(first: 10) { edges { cursor } } }",
                         token=token)
    assert cost_of(body) == 1 + 10 * 2


async def test_a_variable_of_the_wrong_type_is_no_way_around_the_limit(api, database_url):
    tenant = await shop(api, [Role.MANAGER])
    token = tenant[Role.MANAGER].token
    query = "query($on: Boolean!) { orders(first: 50) @include(if: $on) { edges { node { id } } } }"
    async with other_app(database_url, max_query_cost=100) as (_, small_api):
        # 1 is not a Boolean: refused by graphql-core before anything runs, and priced separately
        # from `true` (which equals 1 in Python).
        body = await small_api.raw(query, {"on": 1}, token)
        assert body["data"] is None and body["errors"][0]["message"].startswith("Variable '$on' has invalid value")
        assert "extensions" not in body
        assert await small_api.raw(query, {"on": True}, token) == refusal(101, 100)
        body = await small_api.raw(query, {"on": False}, token)
        assert body["data"] == {} and cost_of(body, 100) == 0


async def test_interfaces_and_unions_cost_their_most_expensive_member(api, services):
    tenant = await shop(api, [Role.MANAGER])
    await bulk_orders(services, tenant.company_id, tenant.group_id, [tenant[Role.MANAGER].membership_id], 1)
    token = tenant[Role.MANAGER].token
    page = await api.query("{ orders(first: 1) { edges { node { id } } } }", token=token)
    order_id = page["orders"]["edges"][0]["node"]["id"]
    node = "query($id: ID!) { node(id: $id) { id ... on Order { lines { id } } ... on User { group { id } } } }"
    for global_id in (order_id, tenant[Role.MANAGER].gid):  # an Order or a User: priced the same, as an Order
        body = await api.raw(node, {"id": global_id}, token)
        assert "errors" not in body and body["data"]["node"]["id"] == global_id
        assert cost_of(body) == 1 + 10
    # A mutation's result union: the payload's selection, not the error's.
    body = await api.raw('mutation { createGroup(input: {name: "Costly"}) { ... on GroupPayload { group { id } } '
                         "... on MutationError { code } } }", token=token)
    assert body["data"]["createGroup"]["group"]["id"] and cost_of(body) == 1 + 1


async def test_introspection_has_a_fixed_cost_and_graphiql_still_works(api):
    body = await api.raw(get_introspection_query(descriptions=True))
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert cost_of(body) == INTROSPECTION_COST
    body = await api.raw('{ __typename __type(name: "Order") { name } }')
    assert body["data"]["__type"] == {"name": "Order"} and cost_of(body) == INTROSPECTION_COST


async def test_only_what_runs_reports_a_cost(api):
    # A validation error and an undefined variable value: nothing runs, no cost.
    assert "extensions" not in await api.raw("{ orders { edges { node { nope } } } }")
    body = await api.raw(PAGE, {"first": "many"})
    assert body["data"] is None and "extensions" not in body
    # A partial failure runs, and reports its cost: signed out, `orders` is an error.
    body = await api.raw("{ __typename orders(first: 5) { edges { cursor } } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert cost_of(body) == 1 + 5


def test_nested_connections_multiply():
    # The API has no connection inside a node yet; the model prices one as it prices lists.
    schema = build_sdl_schema("""
        type Query { teams(first: Int = 10): TeamConnection! }
        type TeamConnection { edges: [TeamEdge!]! pageInfo: PageInfo! }
        type TeamEdge { cursor: String! node: Team! }
        type Team { name: String! members(first: Int = 5): MemberConnection! }
        type MemberConnection { edges: [MemberEdge!]! pageInfo: PageInfo! }
        type MemberEdge { cursor: String! node: Member! }
        type Member { name: String! }
        type PageInfo { hasNextPage: Boolean! }""")

    def price(query: str, variables: dict | None = None) -> int | None:
        return price_operation(schema, parse(query), None, variables or {}, max_page_size=100)

    nested = ("query($t: Int!) { teams(first: $t) { edges { node {"
              " members(first: 20) { edges { node { name } } } } } } }")
    # teams 1 + t x (edge 1 + team 1 + members (1 + 20 x (edge 1 + member 1)))
    assert price(nested, {"t": 30}) == 1 + 30 * (2 + 1 + 20 * 2) == 1291
    assert price("{ teams { edges { node { members { pageInfo { hasNextPage } } } } } }") == 1 + 10 * (2 + 1 + 1)
    assert price("query A { teams { pageInfo { hasNextPage } } } query B { __typename }", {}) is None  # ambiguous


def test_every_list_of_objects_has_a_priced_length():
    schema = build_schema()._schema
    lists = set()
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or not (is_object_type(type_) or is_interface_type(type_)):
            continue
        for field_name, field in type_.fields.items():
            listed = is_list_type(field.type.of_type if is_non_null_type(field.type) else field.type)
            connection_edges = field_name == "edges" and "pageInfo" in type_.fields
            if listed and not is_leaf_type(get_named_type(field.type)) and not connection_edges:
                lists.add(f"{type_name}.{field_name}")
    # Without an entry a list would be priced at DEFAULT_LIST_SIZE, which nobody chose for it.
    assert lists == set(LIST_SIZES), "price every new list in schema/cost.py LIST_SIZES (and the README)"


# --- no suggestions in production ---------------------------------------------------------------

SUGGESTIONS = [
    # (query, variables, message in production, what development adds)
    ("{ ordr }", None, "Cannot query field 'ordr' on type 'Query'.", " Did you mean 'order' or 'orders'?"),
    ("{ orders(frist: 10) { edges { cursor } } }", None,
     "Unknown argument 'frist' on field 'Query.orders'.", " Did you mean 'first'?"),
    ("{ orders(orderBy: SUBMITED_AT_DESC) { edges { cursor } } }", None,
     "Value 'SUBMITED_AT_DESC' does not exist in 'OrderSort' enum.",
     " Did you mean the enum value 'SUBMITTED_AT_DESC', 'SUBMITTED_AT_ASC', 'UPDATED_AT_DESC', or 'UPDATED_AT_ASC'?"),
    ("query($f: OrderFiltr) { orders(filter: $f) { edges { cursor } } }", None,
     "Unknown type 'OrderFiltr'.",
     " Did you mean 'OrderFilter', 'OrderBuyer', 'OrderLine', 'OrderSort', or 'UserFilter'?"),
]


@pytest.mark.parametrize(("query", "variables", "production", "development"), SUGGESTIONS)
async def test_production_errors_suggest_no_names(api, database_url, query, variables, production, development):
    assert [e["message"] for e in (await api.raw(query, variables))["errors"]] == [production + development]
    async with other_app(database_url, procura_env="production") as (_, prod_api):
        assert [e["message"] for e in (await prod_api.raw(query, variables))["errors"]] == [production]


async def test_production_errors_on_input_fields_and_variable_values_suggest_no_names(api, database_url):
    literal = "{ orders(filter: {statuss: [APPROVED]}) { edges { cursor } } }"
    query = "query($f: OrderFilter) { orders(filter: $f) { edges { cursor } } }"
    misspelt_field, misspelt_value = {"f": {"statuss": ["APPROVED"]}}, {"f": {"statuses": ["APPROVD"]}}
    development = [
        (await api.raw(literal))["errors"][0]["message"],
        (await api.raw(query, misspelt_field))["errors"][0]["message"],
        (await api.raw(query, misspelt_value))["errors"][0]["message"],
    ]
    assert development == [
        "Expected value of type 'OrderFilter' not to include unknown field 'statuss'. Did you mean 'statuses'?"
        " Found: { statuss: [APPROVED] }.",
        "Variable '$f' has invalid value: Expected value of type 'OrderFilter' not to include unknown field"
        " 'statuss'. Did you mean 'statuses'? Found: {'statuss': ['APPROVED']}.",
        "Variable '$f' has invalid value at .statuses[0]: Value 'APPROVD' does not exist in 'OrderStatus' enum."
        " Did you mean the enum value 'APPROVED'?",
    ]
    async with other_app(database_url, procura_env="production") as (_, prod_api):
        production = [
            (await prod_api.raw(literal))["errors"][0]["message"],
            (await prod_api.raw(query, misspelt_field))["errors"][0]["message"],
            (await prod_api.raw(query, misspelt_value))["errors"][0]["message"],
        ]
    assert production == [
        "Expected value of type 'OrderFilter' not to include unknown field 'statuss', found: { statuss: [APPROVED] }.",
        "Variable '$f' has invalid value: Expected value of type 'OrderFilter' not to include unknown field"
        " 'statuss', found: {'statuss': ['APPROVED']}.",
        "Variable '$f' has invalid value at .statuses[0]: Value 'APPROVD' does not exist in 'OrderStatus' enum.",
    ]
    assert not any("mean" in message for message in production)


async def test_production_prices_and_refuses_like_development(api, database_url):
    tenant = await shop(api, [Role.MANAGER])
    async with other_app(database_url, procura_env="production") as (_, prod_api):
        assert await prod_api.raw(ATTACK, token=tenant[Role.MANAGER].token) == refusal(ATTACK_COST)
        body = await prod_api.raw(PAGE, {"first": 10}, tenant[Role.MANAGER].token)
        assert body["data"]["orders"]["edges"] == [] and cost_of(body) == page_cost(10)
