"""One rule for every id of the schema, generated from the served schema: an object type with an
`id` implements Node and `node(id:)` fetches it, with the same data as its own query; and every
other `ID` a response holds (`ownerId`, `actorId`, `personId`, ...) is a global id that `node(id:)`
resolves too.

The objects come from the role matrix's world (tests/policies/world.py): two companies built with
the application's own use cases, with one of each kind of object; the caller is an administrator,
who may read all of them.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_client_schema,
    get_introspection_query,
    get_named_type,
)

from schema.node import NODE_FETCHERS
from schema.relay import parse_global_id
from tests.policies.world import create_matrix_state, world_for

ALL_FEATURES = ("location", "cost_centre", "budget", "orders", "saved_carts", "invoice_application", "api_client",
                "webhooks", "delegations", "invoices")


async def served_schema(api) -> GraphQLSchema:
    return build_client_schema(await api.query(get_introspection_query(descriptions=False)))


def node_types(schema: GraphQLSchema) -> set[str]:
    return {t.name for t in schema.get_implementations(schema.get_type("Node")).objects}


def selection(type_, depth: int = 0) -> str:
    """Every field without arguments, objects followed three levels down."""
    named = get_named_type(type_)
    parts = []
    for name, field in named.fields.items():
        field_type = get_named_type(field.type)
        if field.args:
            continue
        if isinstance(field_type, (GraphQLInterfaceType, GraphQLUnionType)):
            continue
        if isinstance(field_type, GraphQLObjectType):
            inner = selection(field_type, depth + 1) if depth < 3 else ""
            if inner:  # an object of objects only, at the last level, is left out
                parts.append(f"{name} {{ {inner} }}")
        else:
            parts.append(name)
    return " ".join(parts)


def ids_in(value: Any, type_) -> list[str]:
    """Every value of an `ID` field in a result of the given type."""
    if value is None:
        return []
    if isinstance(type_, GraphQLNonNull):
        return ids_in(value, type_.of_type)
    if isinstance(type_, GraphQLList):
        return [found for item in value for found in ids_in(item, type_.of_type)]
    if not isinstance(type_, GraphQLObjectType):
        return [value] if isinstance(type_, GraphQLScalarType) and type_.name == "ID" else []
    return [found for name, field in type_.fields.items() if name in value for found in ids_in(value[name], field.type)]


# Where each kind of object is read with its own query: (document with {sel}, path to a list of them).
OWN_QUERIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Company": ("{{ company {{ {sel} }} }}", ("company",)),
    "User": ("{{ users(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("users", "edges", "node")),
    "Group": ("{{ groups(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("groups", "edges", "node")),
    "Product": ("{{ products(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("products", "edges", "node")),
    "Order": ("{{ orders(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("orders", "edges", "node")),
    "OrderLine": (
        "{{ orders(first: 100) {{ edges {{ node {{ lines {{ {sel} }} }} }} }} }}",
        ("orders", "edges", "node", "lines"),
    ),
    "DeliveryLocation": ("{{ deliveryLocations {{ {sel} }} }}", ("deliveryLocations",)),
    "DeliverySlot": ("{{ deliveryLocations {{ slots {{ {sel} }} }} }}", ("deliveryLocations", "slots")),
    "EndCustomer": (
        "{{ endCustomers(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}",
        ("endCustomers", "edges", "node"),
    ),
    "SavedCart": ("{{ savedCarts {{ {sel} }} }}", ("savedCarts",)),
    "CostCentre": ("{{ costCentres {{ {sel} }} }}", ("costCentres",)),
    "Budget": ("{{ budgets {{ {sel} }} }}", ("budgets",)),
    "ApprovalRule": ("{{ approvalRules {{ {sel} }} }}", ("approvalRules",)),
    "AuditEntry": ("{{ auditLog(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("auditLog", "edges", "node")),
    "OrderChange": (
        "{{ orderChanges(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("orderChanges", "edges", "node"),
    ),
    "InvoiceApplication": (
        "{{ companyCredit {{ latestApplication {{ {sel} }} }} }}",
        ("companyCredit", "latestApplication"),
    ),
    "ApiClient": ("{{ apiClients(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("apiClients", "edges", "node")),
    "WebhookEndpoint": (
        "{{ webhookEndpoints(first: 100) {{ edges {{ node {{ {sel} }} }} }} }}", ("webhookEndpoints", "edges", "node"),
    ),
    "WebhookDelivery": (
        "{{ webhookEndpoints(first: 10) {{ edges {{ node {{ deliveries(first: 10) {{ edges {{ node {{ {sel} }} }} }} "
        "}} }} }} }}",
        ("webhookEndpoints", "edges", "node", "deliveries", "edges", "node"),
    ),
    "ApprovalDelegation": ("{{ approvalDelegations {{ {sel} }} }}", ("approvalDelegations",)),
    "Invoice": ("{{ invoices(first: 5) {{ edges {{ node {{ {sel} }} }} }} }}", ("invoices", "edges", "node")),
}


def pick(data: Any, path: tuple[str, ...]) -> list[dict]:
    if not path:
        return data if isinstance(data, list) else [data]
    if isinstance(data, list):
        return [found for item in data for found in pick(item, path)]
    return pick(data[path[0]], path[1:]) if data.get(path[0]) is not None else []


NODE = "query($id: ID!) {{ node(id: $id) {{ __typename ... on {type} {{ {sel} }} }} }}"


async def test_every_object_type_with_an_id_is_a_node_that_node_can_fetch(api):
    schema = await served_schema(api)
    with_id = {
        name
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__") and "id" in t.fields
    }
    assert with_id, "the walk found no object types"
    not_nodes = sorted(name for name in with_id if "Node" not in {i.name for i in schema.type_map[name].interfaces})
    assert not_nodes == [], "object types with an id that do not implement Node"
    for name in with_id:
        assert str(schema.type_map[name].fields["id"].type) == "ID!", name
    assert sorted(node_types(schema)) == sorted(NODE_FETCHERS), "Node types and node() fetchers differ"
    assert sorted(node_types(schema)) == sorted([*OWN_QUERIES, "Person"]), "a Node type without a round trip below"


async def test_node_fetches_each_kind_of_object_with_the_data_of_its_own_query(api):
    schema = await served_schema(api)
    world = await world_for(await create_matrix_state(api), "admin", ALL_FEATURES, fresh=True)
    token = world.token
    seen: dict[str, int] = {}
    every_id: set[str] = set()
    for type_name, (document, path) in OWN_QUERIES.items():
        sel = selection(schema.type_map[type_name])
        data = await api.query(document.format(sel=sel), token=token)
        objects = pick(data, path)
        assert objects, f"the world has no {type_name} the administrator can read"
        for expected in objects:
            fetched = (await api.query(NODE.format(type=type_name, sel=sel), {"id": expected["id"]}, token))["node"]
            assert fetched == {"__typename": type_name, **expected}, type_name
            assert parse_global_id(expected["id"])[0] == type_name
            every_id |= set(ids_in(expected, schema.type_map[type_name]))
        seen[type_name] = len(objects)

    # The signed-in person: Viewer.personId is a Person's global id.
    me = (await api.query("{ me { personId email firstName lastName } }", token=token))["me"]
    person = (
        await api.query(NODE.format(type="Person", sel="id email firstName lastName"), {"id": me["personId"]}, token)
    )["node"]
    assert person == {
        "__typename": "Person",
        "id": me["personId"],
        "email": me["email"],
        "firstName": me["firstName"],
        "lastName": me["lastName"],
    }
    every_id.add(me["personId"])

    # Every other ID in those responses (owners, actors, buyers, cost centres, products...) resolves as well.
    assert len(every_id) > sum(seen.values())
    unresolved = []
    for global_id in sorted(every_id):
        node = (await api.query("query($id: ID!) { node(id: $id) { __typename id } }", {"id": global_id}, token))[
            "node"
        ]
        if node is None or node["id"] != global_id or node["__typename"] != parse_global_id(global_id)[0]:
            unresolved.append((parse_global_id(global_id), node))
    assert unresolved == []


async def test_a_person_is_seen_by_themselves_and_by_those_who_see_their_company_users(api):
    world = await world_for(await create_matrix_state(api), "customer", (), fresh=True)
    customer = world.caller_member
    me = (await api.query("{ me { personId } }", token=world.token))["me"]
    query = "query($id: ID!) { node(id: $id) { __typename ... on Person { email } } }"
    assert (await api.query(query, {"id": me["personId"]}, world.token))["node"] == {
        "__typename": "Person",
        "email": customer.email,
    }
    admin = world.own.members["admin"]
    admin_token = await api.token_for(admin)
    assert (await api.query(query, {"id": me["personId"]}, admin_token))["node"]["email"] == customer.email
    # Another company's administrator does not see the person; a customer does not see colleagues.
    other_admin_token = await api.token_for(world.other.members["admin"])
    assert (await api.query(query, {"id": me["personId"]}, other_admin_token))["node"] is None
    body = await api.raw(
        query, {"id": (await api.query("{ me { personId } }", token=admin_token))["me"]["personId"]}, world.token
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and body["data"] == {"node": None}
