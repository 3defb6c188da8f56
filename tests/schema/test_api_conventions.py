"""API conventions that hold for every domain: the committed SDL, descriptions everywhere,
query limits, no batching, introspection and GraphiQL by environment, probes, error masking,
opaque global ids and `node(id:)`."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    specified_scalar_types,
)
from sqlalchemy import func, select

import resolvers.group
from app import create_app
from models import Group, Role
from schema import build_schema
from schema.relay import to_global_id
from settings import Settings
from tests.conftest import test_settings as make_test_settings
from tests.factories import Api, error_code

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ME = "{ me { email } }"


@asynccontextmanager
async def other_app(database_url: str, **overrides) -> AsyncIterator[tuple[httpx.AsyncClient, Api]]:
    """A second application instance with its own settings, on the same database."""
    application = create_app(make_test_settings(database_url, **overrides))
    try:
        transport = httpx.ASGITransport(app=application, client=("192.0.2.10", 42000))
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as http:
            yield http, Api(http, application.state.services)
    finally:
        await application.state.services.mailer.drain()
        await application.state.services.db.dispose()


# --- the schema --------------------------------------------------------------------------------


def test_committed_schema_matches_the_code():
    on_disk = (PROJECT_ROOT / "schema.graphql").read_text()
    assert on_disk == build_schema().as_str() + "\n", "schema.graphql is stale: run `make schema`"


def test_every_type_field_argument_and_enum_value_has_a_description():
    schema = build_schema()._schema
    missing = []
    for name, type_ in schema.type_map.items():
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if not (type_.description or "").strip():
            missing.append(name)
        if isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in type_.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not (arg.description or "").strip():
                        missing.append(f"{name}.{field_name}({arg_name})")
        if isinstance(type_, GraphQLEnumType):
            missing += [f"{name}.{value}" for value, v in type_.values.items() if not (v.description or "").strip()]
    # The walk did see every kind of type.
    for kind in (GraphQLObjectType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLUnionType, GraphQLEnumType):
        assert any(isinstance(t, kind) for n, t in schema.type_map.items() if not n.startswith("__")), kind
    assert missing == [], f"missing descriptions: {missing}"


def test_names_follow_the_conventions():
    schema = build_schema()._schema
    for name, type_ in schema.type_map.items():
        if name.startswith("__") or name in specified_scalar_types:
            continue
        if isinstance(type_, GraphQLEnumType):
            assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", value) for value in type_.values), name
        if isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", field) for field in type_.fields), name
    # Mutations take one input object (or none).
    for name, field in schema.mutation_type.fields.items():
        assert set(field.args) <= {"input"}, name


# --- limits --------------------------------------------------------------------------------------


async def test_query_depth_is_limited(api, database_url):
    tenant = await api.tenant([Role.ADMIN])
    token = tenant[Role.ADMIN].token
    deep = "{ me { companies { company { address { street } } } } }"
    async with other_app(database_url, max_query_depth=3) as (_, shallow_api):
        body = await shallow_api.raw(deep, token=token)
        assert body["data"] is None
        assert [e["message"] for e in body["errors"]] == ["'anonymous' exceeds maximum operation depth of 3"]
        assert "errors" not in await shallow_api.raw("{ me { companies { company { name } } } }", token=token)
        body = await shallow_api.raw("query Named " + deep, token=token)
        assert [e["message"] for e in body["errors"]] == ["'Named' exceeds maximum operation depth of 3"]
    # The default limit is wider than the schema's deepest path, so every valid query passes it.
    assert Settings(_env_file=None).max_query_depth == 12
    assert "errors" not in await api.raw(deep, token=token)


async def test_aliases_are_limited(api):
    tenant = await api.tenant([Role.ADMIN])
    token = tenant[Role.ADMIN].token
    thirty = "{ " + " ".join(f"a{i}: me {{ email }}" for i in range(30)) + " }"
    data = await api.query(thirty, token=token)
    assert len(data) == 30
    body = await api.raw(thirty.replace("a0:", "a0: me { email } z:"), token=token)
    assert body == {"data": None, "errors": [{"message": "31 aliases found. Allowed: 30"}]}


async def test_tokens_are_limited(api, database_url):
    tenant = await api.tenant([Role.ADMIN])
    token = tenant[Role.ADMIN].token
    many_variables = "query Q(" + ", ".join(f"$v{i}: Int" for i in range(501)) + ") { __typename }"  # 2,000+ tokens
    body = await api.raw(many_variables, token=token)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    async with other_app(database_url, max_tokens=20) as (_, small_api):
        assert "errors" not in await small_api.raw("{ me { email firstName lastName } }", token=token)  # 9 tokens
        body = await small_api.raw("{ me { " + "email " * 20 + "} }", token=token)
        assert body["data"] is None
        assert body["errors"][0]["message"] == "Syntax Error: Document contains more than 20 tokens. Parsing aborted."


async def test_page_size_over_100_is_refused_with_a_clear_error(api):
    tenant = await api.tenant([Role.ADMIN])
    for field in ("users", "groups"):
        body = await api.raw(f"{{ {field}(first: 101) {{ edges {{ cursor }} }} }}", token=tenant[Role.ADMIN].token)
        assert body["data"] is None
        assert body["errors"][0]["message"] == "first must be between 0 and 100"
        assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "first"}


async def test_batched_requests_are_rejected(api, client, services):
    tenant = await api.tenant([Role.ADMIN])
    headers = {"authorization": f"Bearer {tenant[Role.ADMIN].token}"}
    batch = [{"query": f'mutation {{ createGroup(input: {{name: "Batched {n}"}}) {{ __typename }} }}'}
             for n in range(2)]
    response = await client.post("/graphql", json=batch, headers=headers)
    assert response.status_code == 400
    assert "Batching is not enabled" in response.text
    async with services.db.read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Group).where(Group.name.like("Batched%"))) == 0


# --- environments: introspection and GraphiQL -----------------------------------------------------


async def test_production_refuses_introspection_and_serves_no_graphiql(database_url):
    async with other_app(database_url, procura_env="production") as (http, prod_api):
        body = await prod_api.raw("{ __schema { types { name } } }")
        assert body["data"] is None
        assert body["errors"][0]["message"].startswith("GraphQL introspection has been disabled")
        body = await prod_api.raw('{ __type(name: "User") { name } }')
        assert body["data"] is None and body["errors"]
        cost = {"requestedQueryCost": 0, "maximumQueryCost": Settings(_env_file=None).max_query_cost}
        assert await prod_api.raw("{ __typename }") == {"data": {"__typename": "Query"}, "extensions": {"cost": cost}}

        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert "<html" not in page.text.lower() and "graphiql" not in page.text.lower()
        assert not page.headers.get("content-type", "").startswith("text/html")
        assert (await http.get("/graphiql-assets/graphiql.min.js")).status_code == 404


async def test_development_serves_an_offline_graphiql(client, api):
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "GraphiQL" in html
    assert not re.search(r"https?://|//cdn|unpkg|jsdelivr", html), "GraphiQL must not load anything from a CDN"
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert urls and all(url.startswith("/graphiql-assets/") for url in urls), urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    # Introspection works outside production (GraphiQL needs it).
    data = await api.query("{ __schema { types { name } } }")
    assert "User" in {t["name"] for t in data["__schema"]["types"]}


# --- probes ----------------------------------------------------------------------------------------


async def test_health_and_readiness(client, services):
    health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    no_worker = {"status": "absent", "running": 0, "lastBeatSecondsAgo": None}  # tests/worker/test_readyz.py
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": services.db.dialect,
                                                       "worker": no_worker})


async def test_not_ready_when_the_database_is_unreachable():
    application = create_app(make_test_settings("postgresql+asyncpg://root@127.0.0.1:1/x"))
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://down") as http:
            assert (await http.get("/healthz")).status_code == 200
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert "127.0.0.1" not in ready.text  # the reason's class only, no connection details
    finally:
        await application.state.services.db.dispose()


# --- errors ------------------------------------------------------------------------------------------


async def test_unexpected_errors_are_masked(api, services, monkeypatch):
    tenant = await api.tenant([Role.ADMIN])
    token = tenant[Role.ADMIN].token

    async def broken_list(ctx, **_):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(resolvers.group, "list_groups", broken_list)
    body = await api.raw("{ groups { edges { node { id } } } }", token=token)
    assert body["data"] is None
    assert body["errors"] == [{"message": "Unexpected error.", "locations": [{"line": 1, "column": 3}],
                               "path": ["groups"], "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]

    real_create = resolvers.group.create_group

    async def create_then_fail(ctx, *, name):
        await real_create(ctx, name=name)
        raise RuntimeError("secret internals after a write")

    monkeypatch.setattr(resolvers.group, "create_group", create_then_fail)
    body = await api.raw('mutation { createGroup(input: {name: "Half done"}) { __typename } }', token=token)
    assert body["data"] is None
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Unexpected error.", {"code": "INTERNAL_SERVER_ERROR"})]
    assert "secret" not in str(body)
    async with services.db.read_sessions() as session:  # the failed mutation was rolled back
        assert await session.scalar(select(func.count()).select_from(Group).where(Group.name == "Half done")) == 0
    # The app keeps serving.
    assert (await api.query(ME, token=token))["me"]["email"] == tenant[Role.ADMIN].email


async def test_access_errors_keep_their_code_and_syntax_errors_their_message(api):
    body = await api.raw(ME)
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    body = await api.raw("{ me { email ")
    assert body.get("data") is None
    assert body["errors"][0]["message"].startswith("Syntax Error: Expected Name, found <EOF>")


# --- ids and node ------------------------------------------------------------------------------------


def _decoded(global_id: str) -> str:
    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()


async def test_global_ids_are_opaque(api):
    tenant = await api.tenant([Role.ADMIN])
    data = await api.query("{ me { personId user { id group { id } } company { id } } }",
                           token=tenant[Role.ADMIN].token)
    me = data["me"]
    pairs = [(me["user"]["id"], tenant[Role.ADMIN].membership_id), (me["user"]["group"]["id"], tenant.group_id),
             (me["company"]["id"], tenant.company_id), (me["personId"], tenant[Role.ADMIN].user_id)]
    for global_id, pk in pairs:
        assert isinstance(global_id, str) and global_id != str(pk) and not global_id.isdigit()
        assert re.fullmatch(r"[A-Za-z0-9_-]+", global_id)
        assert _decoded(global_id).endswith(f":{pk}")
    # The same number in two types gives two different ids.
    assert to_global_id("User", 1) != to_global_id("Group", 1)


NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on User { email } ... on Group { name memberCount } ... on Company { name } } }"""


async def test_node_resolves_own_objects_and_hides_others(api):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    other = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]

    user = (await api.query(NODE, {"id": tenant[Role.CUSTOMER].gid}, admin.token))["node"]
    assert user == {"__typename": "User", "id": tenant[Role.CUSTOMER].gid, "email": tenant[Role.CUSTOMER].email}
    group = (await api.query(NODE, {"id": tenant.group_gid}, admin.token))["node"]
    assert group == {"__typename": "Group", "id": tenant.group_gid, "name": "Default", "memberCount": 2}
    company = (await api.query(NODE, {"id": tenant.gid}, admin.token))["node"]
    assert company["__typename"] == "Company" and company["id"] == tenant.gid

    hidden = [other[Role.ADMIN].gid, other.group_gid, other.gid, to_global_id("User", 987654321),
              to_global_id("Nope", 1), "garbage", "", base64.urlsafe_b64encode(b"User:abc").decode()]
    for global_id in hidden:
        body = await api.raw(NODE, {"id": global_id}, admin.token)
        assert body["data"] == {"node": None} and "errors" not in body, global_id

    # Same permissions as the object's own query; a signed-in person only.
    customer = tenant[Role.CUSTOMER]
    assert (await api.query(NODE, {"id": customer.gid}, customer.token))["node"]["email"] == customer.email
    body = await api.raw(NODE, {"id": admin.gid}, customer.token)
    assert error_code(body) == "FORBIDDEN" and body["data"] == {"node": None}
    body = await api.raw(NODE, {"id": tenant.group_gid}, customer.token)
    assert error_code(body) == "FORBIDDEN" and body["data"] == {"node": None}
    body = await api.raw(NODE, {"id": tenant.gid})
    assert error_code(body) == "UNAUTHENTICATED" and body["data"] == {"node": None}
