"""Generated operations from the served schema, for every role: no answer is a 5xx or INTERNAL_SERVER_ERROR.

hypothesis-graphql writes valid queries and mutations from the schema that introspection serves (test
mode), with strategies of our own for the scalars: real global ids of a small world and ids that name
nothing or are spelt wrong, date-times with and without offsets, dates at the ends of the calendar,
money strings in every spelling, secrets the world holds (link and refresh tokens), emails of its
people, text with NUL and unpaired surrogates. Some operations move their root arguments into
variables, which take another path through coercion. Each one is sent through the real app as one
of: anonymous, administrator, manager, customer, order approver, platform operator.

The world is two companies (the callers belong to "own"; "other" is another tenant) with orders in
several states, carts, saved carts, locations, budgets, rules and an invoice application, built once
per run. Mutations change it as they go, which is wanted: later examples meet the states earlier ones
left. What must not change is who the callers are, or every later example of a caller would stop at
UNAUTHENTICATED or FORBIDDEN and hide whatever lies behind: so the callers' own memberships are never
among the generated ids (what user mutations act on are the other members), and a caller whose session
ended (`logout`) is signed in again before the next example.

Each run draws a fresh seed (printed on failure; FUZZ_SEED=N replays it). FUZZ_EXAMPLES sets the number
of operations per database (default 200, some fifteen seconds each); run it longer by hand.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

import graphql
import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from models import AuthSession
from schema.relay import to_cursor, to_global_id
from tests.factories import Api, Member
from tests.policies.world import FEATURES, MISSING_PK, World, build_world, create_matrix_state, ensure

SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**32))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
# Hypothesis draws the first element most often: the callers who may do the most come first.
CALLERS = ("admin", "operator", "customer", "manager", "order_approver", "anonymous")
TYPE_NAMES = ("Company", "Group", "User", "Person", "Product", "Order", "OrderLine", "DeliveryLocation", "EndCustomer",
              "DeliverySlot", "SavedCart", "CostCentre", "Budget", "ApprovalRule", "InvoiceApplication", "AuditEntry")
ARABIC_INDIC = str.maketrans("0123456789", "".join(map(chr, range(0x660, 0x66A))))
FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))


@dataclass
class Run:
    """The world of one run, the callers' tokens, and the strategies that write operations for it."""

    api: Api
    world: World
    tokens: dict[str, str | None]
    members: dict[str, Member]
    schema: graphql.GraphQLSchema
    operations: st.SearchStrategy
    healed: list[str] = field(default_factory=list)


async def sign_in(world: World, member: Member, *, operator: bool) -> str:
    """A session and access token for a caller, as `login` issues them (login itself is fuzzed too)."""
    services = world.services
    membership_id = None if operator else member.membership_id
    async with services.db.transaction() as session:
        auth_session = AuthSession(user_id=member.user_id, membership_id=membership_id)
        session.add(auth_session)
        await session.flush()
        token, _ = services.tokens.issue(user_id=member.user_id, session_id=auth_session.id,
                                         membership_id=membership_id)
    return token


# --- scalars -----------------------------------------------------------------------------------------------


SIDE_OBJECTS = (  # (type, key in Side.values) of what the world's features build in each company
    ("Order", "order_approved"), ("Order", "order_fulfilled"), ("Order", "order_pending"), ("Order", "cart"),
    ("SavedCart", "saved_private"), ("SavedCart", "saved_shared"), ("DeliveryLocation", "location"),
    ("DeliverySlot", "slot"), ("EndCustomer", "end_customer"), ("CostCentre", "cost_centre"),
    ("CostCentre", "default_cost_centre"), ("Budget", "budget"), ("ApprovalRule", "rule"),
    ("InvoiceApplication", "application"), ("OrderLine", "fulfilled_line"), ("AuditEntry", "audit_entry"),
    ("User", "invited"),
)
CALLER_OBJECTS = (("Order", "cart"), ("SavedCart", "saved"), ("Product", "product"))


def real_ids(world: World) -> list[str]:
    """Global ids of the world's objects, in both companies, except the callers' own memberships."""
    ids = []
    for side in (world.own, world.other):
        values = side.values
        ids += [side.gid, side.group_gid, side.spare_gid, side.target.gid, to_global_id("Person", side.target.user_id)]
        ids += [to_global_id(type_name, values[key]) for type_name, key in SIDE_OBJECTS if key in values]
    ids += [to_global_id("User", member.membership_id) for member in world.other.members.values()]
    catalogue = world.catalogue
    ids += [to_global_id("Product", pk) for pk in (catalogue.active, catalogue.paper, catalogue.inactive)]
    ids += [to_global_id(type_name, world.values[key]) for type_name, key in CALLER_OBJECTS if key in world.values]
    return ids


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def id_strategy(world: World) -> st.SearchStrategy[str]:
    real = st.sampled_from(real_ids(world))
    missing = st.builds(to_global_id, st.sampled_from(TYPE_NAMES), st.integers(MISSING_PK, 2**31 - 1))
    misspelt = st.one_of(
        st.builds(lambda t, n: b64(f"{t}:{n}"), st.sampled_from((*TYPE_NAMES, "cursor", "", "Nope")),
                  st.integers(-10, 10) | st.integers(2**31 - 2, 2**70)),
        st.builds(lambda t, n: b64(f"{t}:{str(n).translate(ARABIC_INDIC)}"), st.sampled_from(TYPE_NAMES),
                  st.integers(1, 50)),
        st.builds(lambda t, n: b64(f"{t}:0{n}"), st.sampled_from(TYPE_NAMES), st.integers(1, 50)),
        real.map(lambda value: value + "=="), st.builds(to_cursor, st.integers(1, 50)),
    )
    return st.one_of(real, real, missing, misspelt, st.text(max_size=30))


def text_strategy(world: World) -> st.SearchStrategy[str]:
    people = [member.email for side in (world.own, world.other) for member in (*side.members.values(), side.target)]
    secrets = [str(side.values[key]) for side in (world.own, world.other)
               for key in ("refresh", "link") if key in side.values]
    cursors = [to_cursor(pk) for pk in range(1, 40)]
    known = st.sampled_from([*people, *secrets, *cursors, "MATRIX-active", "MATRIX-paper", "MATRIX-inactive", "Food",
                             "Paper", "correct-horse-battery", "PO-2026-000001", "card", "invoice"])
    money = st.one_of(
        st.from_regex(r"\A-?[0-9]{1,16}(\.[0-9]{0,3})?\Z"),
        st.sampled_from(["1e999999999", "1e309", "-1e-999999999", "100".translate(ARABIC_INDIC), "1_000", "+5", "NaN",
                         "Infinity", "0.001", "9999999999999.99", "10000000000000", "-0", " 12.50 ",
                         "12".translate(FULLWIDTH), "1\u00b2"]),
    )
    dates = st.dates().map(date.isoformat) | st.datetimes().map(datetime.isoformat)
    any_text = st.text(st.characters(codec=None), max_size=40)  # NUL and unpaired surrogates included
    printable = st.text(string.printable, min_size=0, max_size=300)
    emails = st.builds(lambda local, domain: f"{local}@{domain}",
                       st.text(string.ascii_letters + ".+-", min_size=1, max_size=12),
                       st.sampled_from(["example.com", "own.example.com", "x", "localhost", "\u4f8b\u3048.jp"]))
    return st.one_of(known, known, money, money, dates, any_text, printable, emails)


def date_time_strategy() -> st.SearchStrategy[str]:
    zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-12)),
                             timezone(timedelta(hours=14))])
    aware = st.builds(lambda moment, zone: moment.replace(tzinfo=zone).isoformat(), st.datetimes(), zones)
    naive = st.datetimes().map(datetime.isoformat)
    edges = st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
                             "9999-12-31T23:59:59.999999Z", "2026-02-30T00:00:00Z", "", "now", "2026-01-01"])
    return st.one_of(aware, aware, naive, edges)


def date_strategy() -> st.SearchStrategy[str]:
    edges = st.sampled_from(["0001-01-01", "9999-12-31", "9999-12-01", "9999-10-15", "9999-01-01", "", "2026-02-30",
                             "20260131", "2026-W01-1", "2026-01-05".translate(ARABIC_INDIC)])
    return st.one_of(st.dates().map(date.isoformat), st.dates().map(date.isoformat), edges)


def time_strategy() -> st.SearchStrategy[str]:
    edges = st.sampled_from(["24:00", "9:30", "09:30+01:00", "", "23:59:60", "00:00"])
    return st.one_of(st.times().map(lambda t: t.isoformat(timespec="minutes")), st.times().map(time.isoformat), edges)


def int_strategy() -> st.SearchStrategy[graphql.ValueNode]:
    """Mostly what page sizes, quantities and weekdays take, then their edges, then any 32-bit integer."""
    return st.one_of(st.integers(1, 100), st.integers(1, 100), st.sampled_from([-1, 0, 100, 101, 100000, 100001]),
                     st.integers(-(2**31), 2**31 - 1)).map(nodes.Int)


def scalars(world: World) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    return {
        "ID": id_strategy(world).map(nodes.String), "String": text_strategy(world).map(nodes.String),
        "Int": int_strategy(), "DateTime": date_time_strategy().map(nodes.String),
        "Date": date_strategy().map(nodes.String), "Time": time_strategy().map(nodes.String),
        "Decimal": text_strategy(world).map(nodes.String), "JSON": st.just(nodes.String("{}")),
    }


# --- operations ------------------------------------------------------------------------------------------------


def without_after(document: graphql.DocumentNode) -> graphql.DocumentNode:
    """The operation without `after` on its root fields: a generated cursor is almost never one, and
    the page would be refused before its statement runs."""
    (operation,) = document.definitions
    selections = tuple(dataclasses.replace(selection, arguments=tuple(
        argument for argument in selection.arguments or () if argument.name.value != "after"))
        for selection in operation.selection_set.selections)
    return _with_root(document, selections)


def _with_root(document: graphql.DocumentNode, selections: tuple, variables: tuple = ()) -> graphql.DocumentNode:
    (operation,) = document.definitions
    operation = dataclasses.replace(operation, variable_definitions=variables,
                                    selection_set=dataclasses.replace(operation.selection_set, selections=selections))
    return dataclasses.replace(document, definitions=(operation,))


def with_variables(document: graphql.DocumentNode, schema: graphql.GraphQLSchema) -> tuple[graphql.DocumentNode, dict]:
    """The same operation with the root fields' arguments passed as variables (coerced on another path)."""
    (operation,) = document.definitions
    root = schema.get_root_type(operation.operation)
    definitions, values, selections = [], {}, []
    for selection in operation.selection_set.selections:
        arguments = []
        for argument in selection.arguments or ():
            name = f"v{len(definitions)}"
            argument_type = root.fields[selection.name.value].args[argument.name.value].type
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(graphql.VariableDefinitionNode(variable=variable,
                                                              type=graphql.parse_type(str(argument_type))))
            values[name] = graphql.value_from_ast_untyped(argument.value)
            arguments.append(dataclasses.replace(argument, value=variable))
        selections.append(dataclasses.replace(selection, arguments=tuple(arguments)))
    return _with_root(document, tuple(selections), tuple(definitions)), values


def operation_strategy(schema: graphql.GraphQLSchema, world: World) -> st.SearchStrategy:
    """(caller, document, whether to pass arguments as variables, whether to keep `after`). Mostly one root
    field a document: a forbidden field nulls the whole answer and stops the mutations after it, hiding
    what they would do."""
    custom = scalars(world)
    options = dict(custom_scalars=custom, print_ast=lambda document: document)
    single = [hypothesis_graphql.queries(schema, fields=[name], **options) for name in schema.query_type.fields]
    single += [hypothesis_graphql.mutations(schema, fields=[name], **options) for name in schema.mutation_type.fields]
    several = st.one_of(hypothesis_graphql.queries(schema, **options), hypothesis_graphql.mutations(schema, **options))
    documents = st.one_of(st.one_of(single), st.one_of(single), st.one_of(single), several)
    return st.tuples(st.sampled_from(CALLERS), documents, st.booleans(), st.booleans())


# --- the run ----------------------------------------------------------------------------------------------------


@pytest.fixture
async def run(api: Api) -> Run:
    matrix = await create_matrix_state(api)
    world = await build_world(api, matrix["catalogue"], "admin", matrix["hash"])
    await ensure(world, tuple(FEATURES))
    members = {**world.own.members, "operator": world.catalogue.operator}
    tokens: dict[str, str | None] = {"anonymous": None}
    for caller, member in members.items():
        tokens[caller] = await sign_in(world, member, operator=caller == "operator")
    introspection = await api.query(graphql.get_introspection_query())
    schema = graphql.build_client_schema(introspection)
    return Run(api, world, tokens, members, schema, operation_strategy(schema, world))


def internal_errors(body: dict) -> list[dict]:
    return [error for error in body.get("errors") or []
            if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"]


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the strategy of a whole schema
@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much, HealthCheck.large_base_example])
@given(data=st.data())
async def test_generated_operations_never_fail_inside(run: Run, data) -> None:
    caller, document, as_variables, keep_after = data.draw(run.operations)
    if not keep_after:
        document = without_after(document)
    variables: dict = {}
    if as_variables:
        document, variables = with_variables(document, run.schema)
    query = graphql.print_ast(document)
    note(f"seed {SEED} (FUZZ_SEED={SEED} replays this run); caller {caller}\n{query}\nvariables {variables!r}")
    token = run.tokens[caller]
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    body = json.dumps({"query": query, "variables": variables}).encode()  # ASCII escapes carry unpaired surrogates
    response = await run.api.client.post("/graphql", content=body, headers=headers)
    assert response.status_code < 500, f"HTTP {response.status_code} (seed {SEED}): {response.text[:2000]}"
    answer = response.json()
    assert internal_errors(answer) == [], f"seed {SEED}, caller {caller}: {json.dumps(answer)[:2000]}"
    codes = {(error.get("extensions") or {}).get("code") for error in answer.get("errors") or []}
    if token is not None and "UNAUTHENTICATED" in codes:  # the operation ended the caller's session
        run.healed.append(caller)
        run.tokens[caller] = await sign_in(run.world, run.members[caller], operator=caller == "operator")
