"""API clients end to end through the ASGI app: creating, listing, rotating and revoking them; a client
calling with its secret (what its scopes allow, no session operations); revocation and expiry seen at
once by a second server; secrets stored hashed; the audit trail; and the rate limit (exhaustion,
refill, HTTP 429, shared by two servers and exact under concurrency)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text, update

from app import create_app
from models import ApiClient, ApiClientSecret, ApiScope, AuditEntry, Role
from models.base import utcnow
from resolvers import rate_limit
from schema.relay import decode_id, to_global_id
from tests import helpers
from tests.conftest import test_settings as make_test_settings
from tests.factories import Api, Tenant, error_code
from tests.helpers import snapshot
from tests.ordering_helpers import create_product, place_order, shop
from tests.websocket_helpers import graphql_socket, serving

CLIENT_FIELDS = ("id name scopes createdBy { id email } createdAt lastUsedAt revokedAt "
                 "secrets { hint createdAt expiresAt }")
SECRET_RESULT = (f"__typename ... on ApiClientSecretPayload {{ secret apiClient {{ {CLIENT_FIELDS} }} }} "
                 "... on MutationError { code message field }")
CLIENT_RESULT = (f"__typename ... on ApiClientPayload {{ apiClient {{ {CLIENT_FIELDS} }} }} "
                 "... on MutationError { code message field }")
MUTATIONS = {
    "createApiClient": ("CreateApiClientInput", SECRET_RESULT),
    "rotateApiClientSecret": ("RotateApiClientSecretInput", SECRET_RESULT),
    "revokeApiClient": ("ApiClientIdInput", CLIENT_RESULT),
}
CLIENTS = f"{{ apiClients(first: 100) {{ edges {{ node {{ {CLIENT_FIELDS} }} }} }} }}"
ORDERS = "{ orders(first: 100) { edges { node { id number buyer { userId } } } } }"
COMPANY = "{ company { id name } }"


async def mutate(api: Api, name: str, input: dict, token: str | None) -> dict:
    input_type, selection = MUTATIONS[name]
    return await api.mutate(name, input_type, selection, input, token)


async def ok(api: Api, name: str, input: dict, token: str | None) -> dict:
    return helpers.succeeded(await mutate(api, name, input, token), name)


async def failed(api: Api, name: str, input: dict, token: str | None) -> dict:
    return helpers.failed(await mutate(api, name, input, token), name)


async def new_client(api: Api, admin_token: str, *scopes: ApiScope, name: str = "ERP") -> tuple[dict, str]:
    """A client of the admin's company: (its apiClient as the API shows it, its secret)."""
    created = await ok(api, "createApiClient", {"name": name, "scopes": [s.name for s in scopes]}, admin_token)
    return created["apiClient"], created["secret"]


# A client's use is bookkeeping, not state: a refused call still draws on the bucket and counts as use.
BOOKKEEPING = {"last_used_at", "bucket_milli", "bucket_at_ms"}
KEPT = [i for i, column in enumerate(ApiClient.__table__.columns) if column.name not in BOOKKEEPING]


async def state(services) -> dict:
    """Every row of every table, less the clients' bookkeeping."""
    rows = await snapshot(services)
    rows["api_clients"] = [tuple(row[i] for i in KEPT) for row in rows["api_clients"]]
    return rows


async def client_row(services, client_gid: str) -> ApiClient:
    async with services.db.read_sessions() as session:
        return await session.get_one(ApiClient, decode_id(client_gid, "ApiClient"))


@asynccontextmanager
async def second_server(database_url: str, **overrides) -> AsyncIterator[Api]:
    """Another application instance on the same database, as a second server process would be."""
    application = create_app(make_test_settings(database_url, **overrides))
    try:
        transport = httpx.ASGITransport(app=application, client=("198.51.100.20", 43000))
        async with httpx.AsyncClient(transport=transport, base_url="http://second") as http:
            yield Api(http, application.state.services)
    finally:
        await application.state.services.mailer.drain()
        await application.state.services.db.dispose()


# --- creating and listing -------------------------------------------------------------------------------------------

async def test_an_administrator_creates_a_client_whose_secret_is_shown_once_and_stored_hashed(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    created = await ok(api, "createApiClient", {"name": "  Visma   ERP ", "scopes": ["ORDERS_READ", "ORDERS_READ",
                                                                                      "CATALOGUE_READ"]}, admin.token)
    secret, client = created["secret"], created["apiClient"]
    assert secret.startswith("prc_") and len(secret) >= 4 + 43  # 256 random bits, URL-safe base64
    assert (client["name"], client["scopes"], client["createdBy"]) == (
        "Visma ERP", ["ORDERS_READ", "CATALOGUE_READ"], {"id": to_global_id("Person", admin.user_id),
                                                        "email": admin.email})
    assert (client["lastUsedAt"], client["revokedAt"]) == (None, None)
    assert [(s["hint"], s["expiresAt"]) for s in client["secrets"]] == [(secret[:8], None)]

    # The database holds the digest, never the secret.
    rows = await state(services)
    assert secret not in repr(rows)
    async with services.db.read_sessions() as session:
        stored = (await session.scalars(select(ApiClientSecret))).one()
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest() and stored.hint == secret[:8]

    # Two secrets never repeat.
    _, another = await new_client(api, admin.token, ApiScope.ORDERS_READ)
    assert another != secret and another.startswith("prc_")

    listed = (await api.query(CLIENTS, token=admin.token))["apiClients"]["edges"]
    assert [edge["node"]["name"] for edge in listed] == ["Visma ERP", "ERP"]
    assert all("secret" not in edge["node"] for edge in listed)


async def test_bad_inputs_change_nothing(api, services):
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    before = await state(services)
    for input, field in (({"name": " ", "scopes": ["ORDERS_READ"]}, "name"),
                         ({"name": "x" * 101, "scopes": ["ORDERS_READ"]}, "name"),
                         ({"name": "ERP", "scopes": []}, "scopes")):
        error = await failed(api, "createApiClient", input, admin.token)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert await state(services) == before


async def test_only_administrators_manage_clients_and_clients_never_do(api, services):
    tenant = await api.tenant()
    client, secret = await new_client(api, tenant[Role.ADMIN].token, *ApiScope)
    before = await state(services)
    for role in (Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER):
        token = tenant[role].token
        assert error_code(await api.raw(CLIENTS, token=token)) == "FORBIDDEN"
        for name, input in (("createApiClient", {"name": "x", "scopes": ["ORDERS_READ"]}),
                            ("revokeApiClient", {"id": client["id"]}),
                            ("rotateApiClientSecret", {"id": client["id"]})):
            assert error_code(await mutate(api, name, input, token)) == "FORBIDDEN"
    # A client with every scope cannot see or make clients, nor revoke or rotate itself.
    assert error_code(await api.raw(CLIENTS, token=secret)) == "FORBIDDEN"
    assert error_code(await mutate(api, "createApiClient", {"name": "x", "scopes": ["ORDERS_READ"]}, secret)) \
        == "FORBIDDEN"
    assert error_code(await mutate(api, "revokeApiClient", {"id": client["id"]}, secret)) == "FORBIDDEN"
    assert error_code(await mutate(api, "rotateApiClientSecret", {"id": client["id"]}, secret)) == "FORBIDDEN"
    assert await state(services) == before


async def test_another_companys_client_is_not_found(api, services):
    own, other = await api.tenant([Role.ADMIN]), await api.tenant([Role.ADMIN])
    theirs, _ = await new_client(api, other[Role.ADMIN].token, ApiScope.ORDERS_READ)
    before = await state(services)
    missing = to_global_id("ApiClient", 10**9)
    for target in (theirs["id"], missing):
        for name in ("revokeApiClient", "rotateApiClientSecret"):
            error = await failed(api, name, {"id": target}, own[Role.ADMIN].token)
            assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
        node = await api.query("query($id: ID!) { node(id: $id) { id } }", {"id": target}, own[Role.ADMIN].token)
        assert node == {"node": None}
    assert (await api.query(CLIENTS, token=own[Role.ADMIN].token))["apiClients"]["edges"] == []
    assert await state(services) == before


# --- a client calling -------------------------------------------------------------------------------------------------

async def _company_with_orders(api: Api) -> tuple[Tenant, list[dict]]:
    tenant = await shop(api)
    product = await create_product(api.services)
    orders = [await place_order(api, tenant[role], [(product, 1)]) for role in (Role.CUSTOMER, Role.MANAGER)]
    return tenant, orders


async def test_a_client_with_orders_read_sees_every_order_of_its_company_only(api, services):
    tenant, orders = await _company_with_orders(api)
    other, _ = await _company_with_orders(api)
    client, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    seen = (await api.query(ORDERS, token=secret))["orders"]["edges"]
    assert {edge["node"]["id"] for edge in seen} == {order["id"] for order in orders}
    assert (await api.query(COMPANY, token=secret))["company"]["id"] == tenant.gid
    theirs = (await api.query(ORDERS, token=other[Role.ADMIN].token))["orders"]["edges"][0]["node"]["id"]
    assert (await api.query("query($id: ID!) { order(id: $id) { id } }", {"id": theirs}, secret)) == {"order": None}
    # What its scope does not give is refused.
    for query in ("{ products(first: 5) { edges { node { id } } } }", "{ users(first: 5) { edges { node { id } } } }",
                  "{ auditLog(first: 5) { edges { node { id } } } }", "{ cart { id } }"):
        assert error_code(await api.raw(query, token=secret)) == "FORBIDDEN", query
    # Use is recorded (to the minute), and shows in the list.
    assert (await client_row(services, client["id"])).last_used_at is not None
    listed = (await api.query(CLIENTS, token=tenant[Role.ADMIN].token))["apiClients"]["edges"][0]["node"]
    assert listed["lastUsedAt"] is not None


async def test_a_client_without_orders_read_sees_no_order(api):
    tenant, orders = await _company_with_orders(api)
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.CATALOGUE_READ, ApiScope.INVOICES_READ)
    assert (await api.query(ORDERS, token=secret))["orders"]["edges"] == []
    query = "query($id: ID!) { order(id: $id) { id } }"
    assert await api.query(query, {"id": orders[0]["id"]}, secret) == {"order": None}
    assert (await api.query("{ products(first: 5) { edges { node { id } } } }", token=secret))["products"]["edges"]


async def test_a_client_is_no_person_and_has_no_session(api, services):
    tenant = await api.tenant([Role.ADMIN])
    other = await api.tenant([Role.ADMIN])
    _, secret = await new_client(api, tenant[Role.ADMIN].token, *ApiScope)
    refresh = (await api.login(tenant[Role.ADMIN].email))["refreshToken"]
    before = await state(services)
    refused = {
        "me": "{ me { email } }",
        "logout": "mutation { logout { __typename } }",
        "switchCompany": "mutation($id: ID!) { switchCompany(input: {companyId: $id}) { __typename } }",
        "refreshToken": "mutation($r: String!) { refreshToken(input: {refreshToken: $r}) { __typename } }",
    }
    for name, document in refused.items():
        body = await api.raw(document, {"id": other.gid, "r": refresh} if "$" in document else None, secret)
        assert error_code(body) == "FORBIDDEN", (name, body)
        assert "API client is not a person" in body["errors"][0]["message"]
    assert await state(services) == before
    # The person's refresh token was not spent by the refused call.
    assert (await api.raw(refused["refreshToken"], {"r": refresh}))["data"]["refreshToken"]["__typename"] \
        == "AuthPayload"


async def test_a_wrong_or_malformed_secret_is_unauthenticated(api):
    tenant = await api.tenant([Role.ADMIN])
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    for token in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "prc_", "prc_" + "x" * 500, secret + " x"):
        body = await api.raw(COMPANY, token=token)
        assert error_code(body) == "UNAUTHENTICATED", token
        assert "rateLimit" not in body.get("extensions", {})


async def test_last_use_is_written_at_most_once_a_minute(api, services):
    tenant = await api.tenant([Role.ADMIN])
    client, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    await api.query(COMPANY, token=secret)
    first = (await client_row(services, client["id"])).last_used_at
    assert first is not None
    await api.query(COMPANY, token=secret)
    assert (await client_row(services, client["id"])).last_used_at == first  # within the minute: kept
    # A minute later it moves, through GraphQL (the rate limit's charge) and through the export alike.
    pk = decode_id(client["id"], "ApiClient")
    for call in ("graphql", "export"):
        async with services.db.transaction() as session:
            await session.execute(update(ApiClient).where(ApiClient.id == pk)
                                  .values(last_used_at=utcnow() - timedelta(seconds=61)))
        stale = (await client_row(services, client["id"])).last_used_at
        if call == "graphql":
            await api.query(COMPANY, token=secret)
        else:
            response = await api.client.get("/export/orders.ndjson", headers={"authorization": f"Bearer {secret}"})
            assert response.status_code == 200, response.text
        assert (await client_row(services, client["id"])).last_used_at > stale + timedelta(seconds=60), call


# --- revocation, rotation and expiry --------------------------------------------------------------------------------

async def test_a_revoked_client_is_refused_at_once_by_a_second_server(api, services, database_url):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    client, secret = await new_client(api, admin.token, ApiScope.ORDERS_READ)
    async with second_server(database_url) as second:
        assert (await second.query(COMPANY, token=secret))["company"]["id"] == tenant.gid
        revoked = (await ok(api, "revokeApiClient", {"id": client["id"]}, admin.token))["apiClient"]
        assert revoked["revokedAt"] is not None
        for server in (second, api):
            assert error_code(await server.raw(COMPANY, token=secret)) == "UNAUTHENTICATED"
        # Revoking again changes nothing; rotating a revoked client is refused.
        before = await state(services)
        again = (await ok(second, "revokeApiClient", {"id": client["id"]}, admin.token))["apiClient"]
        assert again["revokedAt"] == revoked["revokedAt"]
        error = await failed(second, "rotateApiClientSecret", {"id": client["id"]}, admin.token)
        assert (error["code"], error["field"]) == ("INVALID_STATE", "id")
        assert await state(services) == before


async def test_rotation_keeps_the_old_secret_for_the_overlap_then_it_expires(api, services, database_url):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    client, first = await new_client(api, admin.token, ApiScope.ORDERS_READ)
    rotated = await ok(api, "rotateApiClientSecret", {"id": client["id"], "overlapHours": 2}, admin.token)
    second_secret = rotated["secret"]
    assert second_secret != first
    hints = [(s["hint"], s["expiresAt"] is not None) for s in rotated["apiClient"]["secrets"]]
    assert hints == [(second_secret[:8], False), (first[:8], True)]
    async with second_server(database_url) as other:
        for server in (api, other):
            for secret in (first, second_secret):
                assert (await server.query(COMPANY, token=secret))["company"]["id"] == tenant.gid
        # The overlap ends: the old secret stops in every server, the new one goes on.
        async with services.db.transaction() as session:
            await session.execute(update(ApiClientSecret).where(ApiClientSecret.hint == first[:8])
                                  .values(expires_at=utcnow() - timedelta(seconds=1)))
        for server in (api, other):
            assert error_code(await server.raw(COMPANY, token=first)) == "UNAUTHENTICATED"
            assert (await server.query(COMPANY, token=second_secret))["company"]["id"] == tenant.gid
    listed = (await api.query(CLIENTS, token=admin.token))["apiClients"]["edges"][0]["node"]
    assert [s["hint"] for s in listed["secrets"]] == [second_secret[:8]]


async def test_rotation_without_overlap_and_twice_in_a_row(api, services):
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    client, first = await new_client(api, admin.token, ApiScope.ORDERS_READ)
    default = await ok(api, "rotateApiClientSecret", {"id": client["id"]}, admin.token)  # 24 hours by default
    expiry = default["apiClient"]["secrets"][1]["expiresAt"]
    async with services.db.read_sessions() as session:
        old = await session.scalar(select(ApiClientSecret).where(ApiClientSecret.hint == first[:8]))
    assert abs(old.expires_at - (utcnow() + timedelta(hours=24))) < timedelta(minutes=1) and expiry
    # A second rotation stops the first secret now: a client holds at most two.
    third = await ok(api, "rotateApiClientSecret", {"id": client["id"], "overlapHours": 0}, admin.token)
    assert len(third["apiClient"]["secrets"]) == 1
    for gone in (first, default["secret"]):
        assert error_code(await api.raw(COMPANY, token=gone)) == "UNAUTHENTICATED"
    assert (await api.query(COMPANY, token=third["secret"]))["company"]
    before = await state(services)
    for hours in (-1, 169):
        error = await failed(api, "rotateApiClientSecret", {"id": client["id"], "overlapHours": hours}, admin.token)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "overlapHours")
    assert await state(services) == before


# --- the audit trail ------------------------------------------------------------------------------------------------

AUDIT = "{ auditLog(first: 20) { edges { node { entity entityId action actorId apiClientId } } } }"


async def test_client_management_and_a_clients_own_changes_are_in_the_audit_log(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    client, _ = await new_client(api, admin.token, ApiScope.WEBHOOKS_MANAGE)
    await ok(api, "rotateApiClientSecret", {"id": client["id"], "overlapHours": 0}, admin.token)
    await ok(api, "revokeApiClient", {"id": client["id"]}, admin.token)
    person = to_global_id("Person", admin.user_id)
    entries = [edge["node"] for edge in (await api.query(AUDIT, token=admin.token))["auditLog"]["edges"]]
    assert [(e["entity"], e["entityId"], e["action"], e["actorId"], e["apiClientId"]) for e in entries] == [
        ("api_client", client["id"], action, person, None) for action in ("revoke", "rotate_secret", "create")]

    # A change a client makes with its secret (a webhook endpoint: WEBHOOKS_MANAGE, and ORDERS_READ since the
    # payloads carry whole orders) names the client, no person.
    _, secret = await new_client(api, admin.token, ApiScope.WEBHOOKS_MANAGE, ApiScope.ORDERS_READ, name="Hooks")
    listed = (await api.query(CLIENTS, token=admin.token))["apiClients"]["edges"]
    hooks = next(edge["node"]["id"] for edge in listed if edge["node"]["name"] == "Hooks")
    created = await api.mutate(
        "createWebhookEndpoint", "CreateWebhookEndpointInput",
        "__typename ... on WebhookSecretPayload { webhookEndpoint { id } } ... on MutationError { code message }",
        {"url": "http://127.0.0.1:9/hooks", "events": ["ORDER_APPROVED"]}, secret)
    endpoint = created["data"]["createWebhookEndpoint"]["webhookEndpoint"]["id"]
    newest = (await api.query(AUDIT, token=admin.token))["auditLog"]["edges"][0]["node"]
    assert (newest["entity"], newest["entityId"], newest["action"]) == ("webhook_endpoint", endpoint, "create")
    assert (newest["actorId"], newest["apiClientId"]) == (None, hooks)
    async with services.db.read_sessions() as session:
        row = await session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert (row.actor_user_id, row.actor_api_client_id, row.company_id) == (
        None, decode_id(hooks, "ApiClient"), tenant.company_id)


# --- rate limits ----------------------------------------------------------------------------------------------------

# `{ company { id } }` costs 1 point; with a capacity of 20 points a second's refill is 1 point.
CHEAP = "{ company { id } }"
LIMITS = {"api_rate_limit_capacity": 20, "api_rate_limit_refill_per_second": 1, "max_query_cost": 20}


async def post(http: httpx.AsyncClient, secret: str, query: str = CHEAP) -> httpx.Response:
    return await http.post("/graphql", json={"query": query}, headers={"authorization": f"Bearer {secret}"})


async def drain(http: httpx.AsyncClient, secret: str, limit: int = 200) -> int:
    """Requests that ran until the first refused one."""
    for ran in range(limit):
        if (await post(http, secret)).status_code == 429:
            return ran
    raise AssertionError("the bucket never emptied")


async def test_every_client_response_reports_its_cost_and_what_is_left(api, database_url):
    tenant = await api.tenant([Role.ADMIN])
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    async with second_server(database_url, **LIMITS) as limited:
        await _reports(api, limited.client, tenant, secret)


async def _reports(api: Api, client: httpx.AsyncClient, tenant: Tenant, secret: str) -> None:
    first = (await post(client, secret)).json()
    assert first["extensions"]["rateLimit"] == {"cost": 1, "remaining": 19, "capacity": 20, "refillPerSecond": 1}
    second = (await post(client, secret, "{ orders(first: 5) { edges { node { id } } } }")).json()
    assert second["extensions"]["cost"]["requestedQueryCost"] == 11
    assert second["extensions"]["rateLimit"]["cost"] == 11
    assert 8 <= second["extensions"]["rateLimit"]["remaining"] <= 9  # less 11, plus what refilled meanwhile
    # A free query still counts one point; people are not limited.
    assert (await post(client, secret, "{ __typename }")).json()["extensions"]["rateLimit"]["cost"] == 1
    person = await api.raw(CHEAP, token=tenant[Role.ADMIN].token)
    assert "rateLimit" not in person["extensions"]


async def test_an_empty_bucket_refuses_with_429_before_anything_runs_and_refills(api, services, database_url):
    tenant = await api.tenant([Role.ADMIN])
    record, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    async with second_server(database_url, **LIMITS) as limited:
        await _exhaust_and_refill(limited.client, services, record, secret)


async def _exhaust_and_refill(client: httpx.AsyncClient, services, record: dict, secret: str) -> None:
    started = time.monotonic()
    ran = await drain(client, secret)
    assert 20 <= ran <= 20 + int(time.monotonic() - started) + 1
    # Refused before execution: a mutation's resolver (it would say FORBIDDEN: a client has no session) never runs.
    refused = await post(client, secret, "mutation { logout { __typename } }")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body["data"] is None and len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfterSeconds"] >= 1
    assert "path" not in error and "Retry in" in error["message"]
    assert body["extensions"]["rateLimit"]["cost"] == 0
    # Five seconds of refill (the bucket's clock moved back instead of waiting): five more requests run.
    pk = decode_id(record["id"], "ApiClient")
    async with services.db.transaction() as session:
        await session.execute(update(ApiClient).where(ApiClient.id == pk)
                              .values(bucket_at_ms=ApiClient.bucket_at_ms - 5000))
    started = time.monotonic()
    ran = await drain(client, secret)
    assert 5 <= ran <= 5 + int(time.monotonic() - started) + 1
    # A full day without use fills the bucket to its capacity, no further.
    async with services.db.transaction() as session:
        await session.execute(update(ApiClient).where(ApiClient.id == pk)
                              .values(bucket_at_ms=ApiClient.bucket_at_ms - 86_400_000))
    assert (await post(client, secret)).json()["extensions"]["rateLimit"]["remaining"] == 19


async def test_the_bucket_is_one_for_two_servers_and_exact_under_concurrency(api, client, database_url):
    tenant = await api.tenant([Role.ADMIN])
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    # Each request costs 10 points of a 200-point bucket that refills 1 point a second: 20 requests run,
    # and the refill cannot add one more unless the burst takes ten seconds.
    query = "{ orders(first: 4) { edges { node { id } } pageInfo { hasNextPage } } }"
    limits = {"api_rate_limit_capacity": 200, "max_query_cost": 200, "api_rate_limit_refill_per_second": 1}
    async with second_server(database_url, **limits) as one, second_server(database_url, **limits) as two:
        started = time.monotonic()
        responses = await asyncio.gather(*(post(server.client, secret, query)
                                           for _ in range(20) for server in (one, two)))
        assert time.monotonic() - started < 10
    statuses = [response.status_code for response in responses]
    assert (statuses.count(200), statuses.count(429)) == (20, 20)
    remaining = [r.json()["extensions"]["rateLimit"]["remaining"] for r in responses if r.status_code == 200]
    assert min(remaining) <= 9
    assert all(r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED" for r in responses
               if r.status_code == 429)
    # The other company's clients, and people, are not touched by this client's bucket.
    other = await api.tenant([Role.ADMIN])
    _, theirs = await new_client(api, other[Role.ADMIN].token, ApiScope.ORDERS_READ)
    assert (await post(client, theirs)).status_code == 200
    assert (await client.post("/graphql", json={"query": CHEAP},
                              headers={"authorization": f"Bearer {tenant[Role.ADMIN].token}"})).status_code == 200


def test_the_bucket_must_hold_the_costliest_query(database_url):
    with pytest.raises(ValueError, match="API_RATE_LIMIT_CAPACITY"):
        make_test_settings(database_url, api_rate_limit_capacity=100, max_query_cost=101)


async def test_starting_a_subscription_draws_on_the_bucket(api, database_url):
    """A subscription is priced when it starts, like a query (its events are not): an empty bucket refuses it."""
    tenant = await api.tenant([Role.ADMIN])
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    application = create_app(make_test_settings(database_url, **LIMITS))
    try:
        async with serving(application) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
            await drain(http, secret)
            async with graphql_socket(address, secret) as socket:
                await socket.subscribe("1", "subscription { orderEvents { order { id } } }")
                refused = await socket.receive()
                # Refused before it runs: the protocol's `error`, or a result without data that completes it.
                if refused["type"] == "error":
                    errors = refused["payload"]
                else:
                    assert refused["type"] == "next" and refused["payload"]["data"] is None, refused
                    errors = refused["payload"]["errors"]
                    assert await socket.receive() == {"id": "1", "type": "complete"}
            assert refused["id"] == "1" and [e["extensions"]["code"] for e in errors] == ["RATE_LIMITED"], refused
    finally:
        await application.state.services.db.dispose()


async def test_on_postgresql_the_charge_commits_asynchronously_for_itself_only(api, services, backend):
    if backend != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    tenant = await api.tenant([Role.ADMIN])
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ)
    budget = rate_limit.budget_of(services)
    async with services.db.read_sessions() as session:
        charged = await rate_limit.charge(services, hashlib.sha256(secret.encode()).hexdigest(), 5, budget, session)
        assert charged.actor is not None and charged.remaining == budget.capacity - 5
        # The setting held for the charge's own (autocommit) transaction, not for the connection.
        assert (await session.execute(text("SHOW synchronous_commit"))).scalar() == "on"
