"""Webhook endpoints through the API: create (the secret shown once), list with the delivery log, change,
disable and enable, delete, rotate the secret; the audit log; who may; limits and refusals.

Deliveries to a real receiver are in test_webhook_delivery.py, the address guard in test_webhook_address.py."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import event, select, update

from models import AuditEntry, Role, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from resolvers.webhook import MAX_ENDPOINTS
from resolvers.webhook_dispatch import message_id
from resolvers.webhook_payload import global_id
from schema.relay import parse_global_id, to_global_id
from tests.factories import Api, error_code
from tests.helpers import snapshot
from tests.webhook_helpers import (
    DELETE_RESULT,
    DELIVERY,
    ENDPOINT_RESULT,
    ENDPOINTS,
    SECRET_RESULT,
    create_endpoint,
    endpoints,
    mutate,
)

URL = "https://erp.example.com/procura/hooks"


async def stored(services, endpoint_gid: str) -> WebhookEndpoint | None:
    async with services.db.read_sessions() as session:
        return await session.get(WebhookEndpoint, parse_global_id(endpoint_gid)[1])


async def audit_entries(services, company_id: int) -> list[tuple[str, str, dict | None, dict | None]]:
    async with services.db.read_sessions() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.company_id == company_id, AuditEntry.entity == "webhook_endpoint")
            .order_by(AuditEntry.id))
        return [tuple(row) for row in rows]


async def update_endpoint(api: Api, member, **input) -> dict:
    return await mutate(api, "updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT, input, member)


# --- create and list ---------------------------------------------------------------------------------------

async def test_an_administrator_creates_an_endpoint_and_sees_its_secret_once(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]

    created = await create_endpoint(api, admin, URL, ["ORDER_APPROVED", "ORDER_SUBMITTED", "ORDER_APPROVED"],
                                    description="  Our   ERP  ")

    secret, endpoint = created["secret"], created["webhookEndpoint"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert (endpoint["url"], endpoint["description"], endpoint["events"], endpoint["enabled"]) == (
        URL, "Our ERP", ["ORDER_SUBMITTED", "ORDER_APPROVED"], True)  # each once, in the enum's order
    assert (endpoint["disabledReason"], endpoint["consecutiveFailures"], endpoint["previousSecretExpiresAt"]) == (
        None, 0, None)
    assert parse_global_id(endpoint["id"])[0] == "WebhookEndpoint"
    row = await stored(services, endpoint["id"])
    assert (row.secret, row.company_id, row.created_by_user_id) == (secret, tenant.company_id, admin.user_id)

    listed = await endpoints(api, admin)
    assert [{k: v for k, v in e.items() if k != "deliveries"} for e in listed] == [endpoint]
    assert listed[0]["deliveries"]["edges"] == []
    fields = (await api.query('{ __type(name: "WebhookEndpoint") { fields { name } } }', token=admin.token))
    assert "secret" not in {f["name"] for f in fields["__type"]["fields"]}  # no way to read it back
    [entry] = await audit_entries(services, tenant.company_id)
    assert entry == ("create", row.id, None, {"url": URL, "events": ["order.submitted", "order.approved"],
                                              "description": "Our ERP", "enabled": True, "disabled_reason": None})
    assert secret not in str(entry)


async def test_a_second_secret_is_another_one(api):
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    first, second = [(await create_endpoint(api, admin, URL))["secret"] for _ in range(2)]
    assert first != second


async def test_endpoints_are_listed_oldest_first_in_pages(api):
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    ids = [(await create_endpoint(api, admin, f"{URL}/{n}"))["webhookEndpoint"]["id"] for n in range(3)]
    first = (await api.query(ENDPOINTS, {"first": 2}, admin.token))["webhookEndpoints"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[:2] and first["pageInfo"]["hasNextPage"] is True
    rest = await api.query(
        "query($after: String) { webhookEndpoints(first: 2, after: $after) { edges { node { id } } } }",
        {"after": first["pageInfo"]["endCursor"]}, admin.token)
    assert [e["node"]["id"] for e in rest["webhookEndpoints"]["edges"]] == ids[2:]


async def test_a_company_has_at_most_twenty_endpoints(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    for n in range(MAX_ENDPOINTS):
        await create_endpoint(api, admin, f"{URL}/{n}")
    before = await snapshot(services)

    refused = await mutate(api, "createWebhookEndpoint", "CreateWebhookEndpointInput", SECRET_RESULT,
                           {"url": URL, "events": ["ORDER_APPROVED"]}, admin)

    assert (refused["code"], refused["message"], refused["field"]) == (
        "INVALID_STATE", "A company has at most 20 webhook endpoints", None)
    assert await snapshot(services) == before


async def test_bad_inputs_are_refused_on_their_field_and_create_nothing(api, services):
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    before = await snapshot(services)
    cases = [
        ({"url": URL, "events": []}, ("INVALID_INPUT", "Choose at least one event", "events")),
        ({"url": "ftp://erp.example.com/x", "events": ["ORDER_APPROVED"]},
         ("URL_NOT_ALLOWED", "A webhook URL starts with https://", "url")),
        ({"url": "https://user:pw@erp.example.com/x", "events": ["ORDER_APPROVED"]},
         ("URL_NOT_ALLOWED", "A webhook URL carries no user name or password: authenticate by the signature", "url")),
        ({"url": "erp.example.com/hooks", "events": ["ORDER_APPROVED"]},
         ("URL_NOT_ALLOWED", "A webhook URL starts with https://", "url")),
        ({"url": "https://erp.example.com/a b", "events": ["ORDER_APPROVED"]},
         ("URL_NOT_ALLOWED", "A webhook URL is written in ASCII without spaces (punycode for international names)",
          "url")),
        ({"url": "https://" + "a" * 2000 + ".example.com", "events": ["ORDER_APPROVED"]},
         ("URL_NOT_ALLOWED", "A webhook URL has at most 2000 characters", "url")),
        ({"url": URL, "events": ["ORDER_APPROVED"], "description": "x" * 201},
         ("INVALID_INPUT", "At most 200 characters", "description")),
    ]
    for input, expected in cases:
        result = await mutate(api, "createWebhookEndpoint", "CreateWebhookEndpointInput", SECRET_RESULT, input, admin)
        assert (result["code"], result["message"], result["field"]) == expected, input
    assert await snapshot(services) == before


# --- change, disable, enable, delete -------------------------------------------------------------------------

async def test_an_endpoint_is_changed_and_each_change_is_audited(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    endpoint = (await create_endpoint(api, admin, URL, ["ORDER_APPROVED"]))["webhookEndpoint"]

    changed = await update_endpoint(api, admin, id=endpoint["id"], url=f"{URL}/v2",
                                    events=["ORDER_FULFILLED", "ORDER_RETURNED"], description="Books")

    assert {k: changed["webhookEndpoint"][k] for k in ("id", "url", "events", "description", "enabled")} == {
        "id": endpoint["id"], "url": f"{URL}/v2", "events": ["ORDER_FULFILLED", "ORDER_RETURNED"],
        "description": "Books", "enabled": True}
    unchanged = await update_endpoint(api, admin, id=endpoint["id"])
    assert unchanged["webhookEndpoint"]["url"] == f"{URL}/v2"
    entries = await audit_entries(services, tenant.company_id)
    assert [(action, before and before["url"], after["url"]) for action, _, before, after in entries] == [
        ("create", None, URL), ("update", URL, f"{URL}/v2")]  # a call that changes nothing is not logged


async def test_disabling_and_enabling_an_endpoint(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    endpoint = (await create_endpoint(api, admin, URL))["webhookEndpoint"]

    disabled = (await update_endpoint(api, admin, id=endpoint["id"], enabled=False))["webhookEndpoint"]
    assert (disabled["enabled"], disabled["disabledReason"]) == (False, "Disabled by the company")

    async with services.db.transaction() as session:  # as if it had failed meanwhile
        await session.execute(update(WebhookEndpoint).values(consecutive_failures=7))
    enabled = (await update_endpoint(api, admin, id=endpoint["id"], enabled=True))["webhookEndpoint"]
    assert (enabled["enabled"], enabled["disabledReason"], enabled["consecutiveFailures"]) == (True, None, 0)
    actions = [(action, after["enabled"]) for action, *_, after in await audit_entries(services, tenant.company_id)]
    assert actions == [("create", True), ("update", False), ("update", True)]


async def test_deleting_an_endpoint_deletes_its_log(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    endpoint = (await create_endpoint(api, admin, URL))["webhookEndpoint"]
    pk = parse_global_id(endpoint["id"])[1]
    async with services.db.transaction() as session:
        session.add(WebhookDelivery(company_id=tenant.company_id, endpoint_id=pk, message_id=message_id(),
                                    event_type="order.approved", payload={}, status="succeeded", attempts=1))

    deleted = await mutate(api, "deleteWebhookEndpoint", "DeleteWebhookEndpointInput", DELETE_RESULT,
                           {"id": endpoint["id"]}, admin)

    assert deleted == {"__typename": "DeleteWebhookEndpointPayload", "deletedId": endpoint["id"]}
    assert await endpoints(api, admin) == []
    async with services.db.read_sessions() as session:
        assert (await session.scalars(select(WebhookDelivery))).all() == []
    assert [a for a, *_ in await audit_entries(services, tenant.company_id)] == ["create", "delete"]
    again = await mutate(api, "deleteWebhookEndpoint", "DeleteWebhookEndpointInput", DELETE_RESULT,
                         {"id": endpoint["id"]}, admin)
    assert (again["code"], again["field"]) == ("NOT_FOUND", "id")


async def test_rotating_the_secret_keeps_the_old_one_signing_for_a_day(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    created = await create_endpoint(api, admin, URL)
    started = utcnow()

    rotated = await mutate(api, "rotateWebhookSecret", "RotateWebhookSecretInput", SECRET_RESULT,
                           {"id": created["webhookEndpoint"]["id"]}, admin)

    assert rotated["__typename"] == "WebhookSecretPayload"
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    row = await stored(services, created["webhookEndpoint"]["id"])
    assert (row.secret, row.previous_secret) == (rotated["secret"], created["secret"])
    assert timedelta(hours=24) <= row.previous_secret_expires_at - started <= timedelta(hours=24, seconds=30)
    assert rotated["webhookEndpoint"]["previousSecretExpiresAt"] == row.previous_secret_expires_at.isoformat()
    [*_, (action, _, _, after)] = await audit_entries(services, tenant.company_id)
    expires = row.previous_secret_expires_at.isoformat()
    assert (action, after) == ("rotate_secret", {"previous_secret_expires_at": expires})


# --- who may ---------------------------------------------------------------------------------------------

async def test_only_administrators_manage_endpoints_and_only_their_own_company_s(api, services):
    tenant = await api.tenant()
    other = await api.tenant([Role.ADMIN])
    endpoint = (await create_endpoint(api, tenant[Role.ADMIN], URL))["webhookEndpoint"]
    theirs = (await create_endpoint(api, other[Role.ADMIN], URL))["webhookEndpoint"]
    before = await snapshot(services)

    for role in (Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER):
        member = tenant[role]
        assert error_code(await api.raw(ENDPOINTS, token=member.token)) == "FORBIDDEN"
        body = await api.mutate("updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT,
                                {"id": endpoint["id"], "enabled": False}, member.token)
        assert error_code(body) == "FORBIDDEN"
    assert error_code(await api.raw(ENDPOINTS)) == "UNAUTHENTICATED"

    admin = tenant[Role.ADMIN]
    assert [e["id"] for e in await endpoints(api, admin)] == [endpoint["id"]]
    for name, input_type, selection, input in (
        ("updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT, {"id": theirs["id"], "url": URL}),
        ("deleteWebhookEndpoint", "DeleteWebhookEndpointInput", DELETE_RESULT, {"id": theirs["id"]}),
        ("rotateWebhookSecret", "RotateWebhookSecretInput", SECRET_RESULT, {"id": theirs["id"]}),
    ):
        result = await mutate(api, name, input_type, selection, input, admin)
        assert (result["code"], result["field"]) == ("NOT_FOUND", "id"), name
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await api.query(node, {"id": theirs["id"]}, admin.token))["node"] is None
    assert (await api.query(node, {"id": endpoint["id"]}, admin.token))["node"] == {"id": endpoint["id"]}
    assert await snapshot(services) == before


# --- the delivery log ----------------------------------------------------------------------------------------

async def _deliveries(services, company_id: int, endpoint_gid: str, count: int) -> list[int]:
    pk = parse_global_id(endpoint_gid)[1]
    async with services.db.transaction() as session:
        rows = [WebhookDelivery(company_id=company_id, endpoint_id=pk, message_id=message_id(),
                                event_type="order.submitted", payload={"n": n}, status="pending", attempts=0)
                for n in range(count)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_the_delivery_log_is_paged_newest_first_per_endpoint(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    first = (await create_endpoint(api, admin, URL))["webhookEndpoint"]["id"]
    second = (await create_endpoint(api, admin, URL))["webhookEndpoint"]["id"]
    ids = {first: await _deliveries(services, tenant.company_id, first, 5),
           second: await _deliveries(services, tenant.company_id, second, 2)}

    page = {e["id"]: e["deliveries"] for e in await endpoints(api, admin, deliveries=3)}

    newest = [to_global_id("WebhookDelivery", pk) for pk in reversed(ids[first])]
    assert [edge["node"]["id"] for edge in page[first]["edges"]] == newest[:3]
    assert page[first]["pageInfo"]["hasNextPage"] is True
    assert [edge["node"]["payload"] for edge in page[second]["edges"]] == [{"n": 1}, {"n": 0}]
    assert page[second]["pageInfo"]["hasNextPage"] is False
    node = f"query($id: ID!, $after: String) {{ node(id: $id) {{ ... on WebhookEndpoint {{ deliveries(first: 3, " \
           f"after: $after) {{ edges {{ node {{ {DELIVERY} }} }} }} }} }} }}"
    rest = await api.query(node, {"id": first, "after": page[first]["pageInfo"]["endCursor"]}, admin.token)
    assert [edge["node"]["id"] for edge in rest["node"]["deliveries"]["edges"]] == newest[3:]
    one = (await api.query(f"query($id: ID!) {{ node(id: $id) {{ ... on WebhookDelivery {{ {DELIVERY} }} }} }}",
                           {"id": newest[0]}, admin.token))["node"]
    assert one == page[first]["edges"][0]["node"]
    assert (one["status"], one["eventType"], one["attemptCount"], one["attempts"], one["endpointId"]) == (
        "PENDING", "ORDER_SUBMITTED", 0, [], first)


async def test_the_endpoints_with_their_logs_take_the_same_statements_for_one_or_many(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]

    async def statements() -> int:
        seen: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                seen.append(statement)

        engine = services.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert "errors" not in await api.raw(ENDPOINTS, token=admin.token)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(seen)

    endpoint = (await create_endpoint(api, admin, URL))["webhookEndpoint"]["id"]
    await _deliveries(services, tenant.company_id, endpoint, 3)
    one = await statements()
    for n in range(6):
        endpoint = (await create_endpoint(api, admin, f"{URL}/{n}"))["webhookEndpoint"]["id"]
        await _deliveries(services, tenant.company_id, endpoint, 3)
    assert await statements() == one  # the caller, the endpoints, their deliveries, their attempts


def test_payload_ids_are_the_api_s_global_ids():
    for type_name, pk in (("Order", 1), ("OrderLine", 12345), ("Person", 7), ("CostCentre", 2**31 - 1)):
        assert global_id(type_name, pk) == to_global_id(type_name, pk)


async def test_a_stale_previous_secret_is_not_listed_as_signing(api, services):
    from resolvers.webhook import signing_secrets
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    created = await create_endpoint(api, admin, URL)
    rotated = await mutate(api, "rotateWebhookSecret", "RotateWebhookSecretInput", SECRET_RESULT,
                           {"id": created["webhookEndpoint"]["id"]}, admin)
    row = await stored(services, created["webhookEndpoint"]["id"])
    assert signing_secrets(row) == [rotated["secret"], created["secret"]]
    row.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    assert signing_secrets(row) == [rotated["secret"]]


async def test_each_selection_of_the_log_gets_its_own_arguments(api, services):
    """Aliases, fragments, literals and variables: each `deliveries` gets exactly the page it asks for."""
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    endpoint = (await create_endpoint(api, admin, URL))["webhookEndpoint"]["id"]
    ids = [to_global_id("WebhookDelivery", pk) for pk in reversed(await _deliveries(services, tenant.company_id,
                                                                                      endpoint, 4))]
    query = """query($n: Int!, $after: String) { webhookEndpoints { edges { node { ...Logs
      ... on WebhookEndpoint { all: deliveries { edges { node { id } } } } } } } }
      fragment Logs on WebhookEndpoint { one: deliveries(first: 1) { edges { node { id } } pageInfo { endCursor } }
        some: deliveries(first: $n, after: $after) { edges { node { id } } } }"""
    cursor = None
    data = await api.query(query, {"n": 2}, admin.token)
    [node] = [edge["node"] for edge in data["webhookEndpoints"]["edges"]]
    assert [e["node"]["id"] for e in node["one"]["edges"]] == ids[:1]
    assert [e["node"]["id"] for e in node["some"]["edges"]] == ids[:2]
    assert [e["node"]["id"] for e in node["all"]["edges"]] == ids  # the default page of 20
    cursor = node["one"]["pageInfo"]["endCursor"]
    data = await api.query(query, {"n": 3, "after": cursor}, admin.token)
    [node] = [edge["node"] for edge in data["webhookEndpoints"]["edges"]]
    assert [e["node"]["id"] for e in node["some"]["edges"]] == ids[1:4]


async def test_the_log_keeps_ninety_days_and_what_is_still_pending(api, services):
    from models import WebhookAttempt
    from resolvers.webhook_delivery import prune_log
    tenant = await api.tenant([Role.ADMIN])
    endpoint = (await create_endpoint(api, tenant[Role.ADMIN], URL))["webhookEndpoint"]["id"]
    old, pending, recent = await _deliveries(services, tenant.company_id, endpoint, 3)
    now = utcnow()
    async with services.db.transaction() as session:
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_([old, pending])).values(
            created_at=now - timedelta(days=91)))
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_([old, recent])).values(
            status="succeeded"))
        session.add_all(WebhookAttempt(delivery_id=pk, response_code=204) for pk in (old, recent))

    assert await prune_log(services.db, now) == 1
    assert await prune_log(services.db, now) == 0

    async with services.db.read_sessions() as session:
        assert set((await session.scalars(select(WebhookDelivery.id))).all()) == {pending, recent}
        assert (await session.scalars(select(WebhookAttempt.delivery_id))).all() == [recent]
