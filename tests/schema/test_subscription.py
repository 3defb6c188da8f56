"""Subscriptions through a real WebSocket: the application served by uvicorn (its lifespan starts the
change broker), the graphql-transport-ws protocol spoken by hand with the `websockets` client.

Unless a test says otherwise the broker polls and subscriptions re-check their caller only every 60
seconds, so what arrives within the tests' deadline was delivered by a wake-up: the commit hook of
this process on SQLite, LISTEN/NOTIFY on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app import create_app
from models import Role
from resolvers.change_broker import LISTENER_NAME
from tests.conftest import test_settings as make_settings
from tests.factories import Api, Member, operator
from tests.ordering_helpers import (
    add_buyer,
    approval_rule,
    create_product,
    mutate,
    place_order,
    shop,
    succeeded,
)
from tests.websocket_helpers import GraphQLSocket, graphql_socket, server_process, serving, until

SLOW = {"subscription_poll_seconds": 60, "subscription_recheck_seconds": 60}
ORDER_EVENTS = ("subscription { orderEvents { changeId cursor kind occurredAt "
                "order { id number status buyer { userId } } } }")
QUEUE = ("subscription { approvalQueueChanged { orderId inQueue kind occurredAt queueLength "
         "order { id status approvalFlow { viewerActions } } budgetImpact { budgetName } } }")


@pytest.fixture
def settings(database_url: str):
    return make_settings(database_url, **SLOW)


@pytest.fixture
async def live(app) -> AsyncIterator[str]:
    """The `app` (the one `api` calls) served on a real port."""
    async with serving(app) as address:
        yield address


@asynccontextmanager
async def another_app(database_url: str, **overrides) -> AsyncIterator[tuple[str, Any]]:
    """Another application on the same database, served on a real port: (address, its services)."""
    application = create_app(make_settings(database_url, **{**SLOW, **overrides}))
    try:
        async with serving(application) as address:
            yield address, application.state.services
    finally:
        await application.state.services.db.dispose()


def live_subscriptions(services) -> Callable[[], int]:
    return services.broker.live_subscribers


async def subscribed(socket: GraphQLSocket, services, query: str, operation_id: str = "1", count: int = 1) -> None:
    """Subscribe, and wait until the server has set the subscription up (it misses nothing after)."""
    await socket.subscribe(operation_id, query)
    await until(lambda: services.broker.live_subscribers() == count, "the subscription to be set up")


async def order_events(socket: GraphQLSocket, count: int, operation_id: str = "1") -> list[dict]:
    return [(await socket.next_data(operation_id))["orderEvents"] for _ in range(count)]


async def approve(api: Api, approver: Member, order_id: str) -> dict:
    return succeeded(await mutate(api, "approveOrder", "DecideOrderInput", {"id": order_id}, approver.token),
                     "approveOrder")["order"]


async def cancel(api: Api, buyer: Member, order_id: str) -> dict:
    return succeeded(await mutate(api, "cancelOrder", "CancelOrderInput", {"id": order_id}, buyer.token),
                     "cancelOrder")["order"]


# --- orderEvents -------------------------------------------------------------------------------------------------

async def test_a_customer_hears_of_their_own_orders_only(api, services, live):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    customer, colleague = tenant[Role.CUSTOMER], await add_buyer(api, tenant)
    elsewhere = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    product = await create_product(services)
    async with graphql_socket(live, customer.token) as socket:
        await subscribed(socket, services, ORDER_EVENTS)
        # Written first: if the colleague's or the other company's order reached the customer, it would
        # arrive before their own (the feed is delivered in order).
        await place_order(api, colleague, [(product, 1)])
        await place_order(api, elsewhere, [(product, 1)])
        own = await place_order(api, customer, [(product, 2)])
        events = await order_events(socket, 2)
    assert [event["kind"] for event in events] == ["SUBMIT", "APPROVE"]
    assert {(event["order"]["id"], event["order"]["number"], event["order"]["buyer"]["userId"]) for event in events} \
        == {(own["id"], own["number"], customer.gid)}
    assert events[0]["order"]["status"] == "APPROVED"  # the order as it is when delivered
    assert events[0]["occurredAt"] <= events[1]["occurredAt"]
    # The change feed continues where the subscription stood: a client that reconnects catches up from there.
    feed = await api.query("query($after: String) { orderChanges(after: $after) { edges { cursor node { id } } } }",
                           {"after": events[0]["cursor"]}, customer.token)
    assert [(e["cursor"], e["node"]["id"]) for e in feed["orderChanges"]["edges"]] == \
        [(events[1]["cursor"], events[1]["changeId"])]


async def test_a_manager_hears_of_the_whole_company_and_an_operator_of_every_company(api, services, live):
    tenant = await shop(api, [Role.MANAGER, Role.CUSTOMER])
    other = await shop(api, [Role.CUSTOMER])
    staff = await operator(api)
    product = await create_product(services)
    async with graphql_socket(live, tenant[Role.MANAGER].token) as manager, \
            graphql_socket(live, staff.token) as platform:
        await subscribed(manager, services, ORDER_EVENTS)
        await subscribed(platform, services, ORDER_EVENTS, count=2)
        elsewhere = await place_order(api, other[Role.CUSTOMER], [(product, 1)])
        own = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
        assert [e["order"]["id"] for e in await order_events(manager, 2)] == [own["id"]] * 2
        assert [e["order"]["id"] for e in await order_events(platform, 4)] == [elsewhere["id"]] * 2 + [own["id"]] * 2


async def test_timelines_and_approval_flows_are_loaded_when_selected(api, services, live):
    tenant = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    await approval_rule(services, tenant.company_id)
    product = await create_product(services)
    query = ("subscription { orderEvents { kind order { timeline { kind } "
             "approvalFlow { rules { tiers { status } } viewerActions } } } }")
    async with graphql_socket(live, tenant[Role.ORDER_APPROVER].token) as socket:
        await subscribed(socket, services, query)
        await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
        events = await order_events(socket, 2)
    assert [e["kind"] for e in events] == ["SUBMIT", "REQUIRE_APPROVAL"]
    assert events[1]["order"]["timeline"] == [{"kind": "SUBMIT"}, {"kind": "REQUIRE_APPROVAL"}]
    assert events[1]["order"]["approvalFlow"] == {"rules": [{"tiers": [{"status": "PENDING"}]}],
                                                  "viewerActions": ["APPROVE", "REJECT"]}


# --- approvalQueueChanged ----------------------------------------------------------------------------------------

async def test_an_approver_sees_orders_enter_and_leave_their_queue(api, services, live):
    tenant = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    approver, customer = tenant[Role.ORDER_APPROVER], tenant[Role.CUSTOMER]
    colleague = await add_buyer(api, tenant, Role.ORDER_APPROVER)
    await approval_rule(services, tenant.company_id)
    product = await create_product(services)
    waiting = await place_order(api, customer, [(product, 1)])  # in the queue before the subscription
    async with graphql_socket(live, approver.token) as socket:
        await subscribed(socket, services, QUEUE)

        first = await place_order(api, customer, [(product, 1)])
        entered = (await socket.next_data("1"))["approvalQueueChanged"]
        assert (entered["orderId"], entered["inQueue"], entered["kind"], entered["queueLength"]) == \
            (first["id"], True, "REQUIRE_APPROVAL", 2)
        assert entered["order"] == {"id": first["id"], "status": "PENDING_APPROVAL",
                                    "approvalFlow": {"viewerActions": ["APPROVE", "REJECT"]}}

        await approve(api, colleague, first["id"])  # decided by another approver: no longer visible
        left = (await socket.next_data("1"))["approvalQueueChanged"]
        assert (left["orderId"], left["inQueue"], left["kind"], left["queueLength"], left["order"],
                left["budgetImpact"]) == (first["id"], False, "APPROVE", 1, None, [])

        await approve(api, approver, waiting["id"])  # decided by the subscriber: still theirs to see
        decided = (await socket.next_data("1"))["approvalQueueChanged"]
        assert (decided["orderId"], decided["inQueue"], decided["queueLength"], decided["order"]["status"]) == \
            (waiting["id"], False, 0, "APPROVED")

        second = await place_order(api, customer, [(product, 1)])
        assert (await socket.next_data("1"))["approvalQueueChanged"]["orderId"] == second["id"]
        await cancel(api, customer, second["id"])
        cancelled = (await socket.next_data("1"))["approvalQueueChanged"]
        assert (cancelled["orderId"], cancelled["inQueue"], cancelled["kind"], cancelled["queueLength"]) == \
            (second["id"], False, "CANCEL", 0)


async def test_orders_of_another_approver_never_enter_the_queue(api, services, live):
    """Named approvers: an order waiting for someone else is no change of this approver's queue."""
    tenant = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    other_approver = await add_buyer(api, tenant, Role.ORDER_APPROVER)
    await approval_rule(services, tenant.company_id, roles=(), membership_ids=(other_approver.membership_id,),
                        name="Named")
    await approval_rule(services, tenant.company_id, threshold_minor=200_00, name="Large")
    product = await create_product(services, price_minor=100_00)  # 125.00 with VAT
    async with graphql_socket(live, tenant[Role.ORDER_APPROVER].token) as socket:
        await subscribed(socket, services, QUEUE)
        await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])  # waits for the named approver only
        large = await place_order(api, tenant[Role.CUSTOMER], [(product, 2)])  # waits for both
        change = (await socket.next_data("1"))["approvalQueueChanged"]
    assert (change["orderId"], change["inQueue"], change["queueLength"]) == (large["id"], True, 1)


# --- who may subscribe, and for how long ------------------------------------------------------------------------

async def test_connection_init_authenticates(api, services, live):
    tenant = await api.tenant([Role.CUSTOMER])
    token = tenant[Role.CUSTOMER].token
    for payload in (None, {}, {"Authorization": ""}, {"Authorization": "Basic abc"}, {"token": token}):
        async with graphql_socket(live) as socket:
            await socket.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
            assert await socket.closed() == (4401, "Unauthorized"), payload
    for token in ("not-a-token", tenant[Role.CUSTOMER].token + "x", "prc_unknown"):
        async with graphql_socket(live) as socket:
            await socket.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
            assert await socket.closed() == (4403, "Forbidden"), token
    async with graphql_socket(live) as socket:  # subscribing before connection_init
        await socket.subscribe("1", ORDER_EVENTS)
        assert await socket.closed() == (4401, "Unauthorized")
    async with graphql_socket(live) as socket:  # the key in any case
        assert await socket.init({"AUTHORIZATION": f"bearer {tenant[Role.CUSTOMER].token}"}) == \
            {"type": "connection_ack"}


async def test_subscribing_needs_the_permission(api, services, live):
    tenant = await api.tenant([Role.CUSTOMER])
    async with graphql_socket(live, tenant[Role.CUSTOMER].token) as socket:
        await socket.subscribe("1", QUEUE)
        message = await socket.receive()
    assert message["type"] == "error" and message["id"] == "1", message
    assert [(e["extensions"]["code"], e["path"]) for e in message["payload"]] == \
        [("FORBIDDEN", ["approvalQueueChanged"])]
    assert services.broker.live_subscribers() == 0


async def test_a_logout_ends_the_subscription(api, database_url):
    async with another_app(database_url, subscription_recheck_seconds=0.2) as (address, services):
        tenant = await api.tenant([Role.CUSTOMER])
        customer = tenant[Role.CUSTOMER]
        async with graphql_socket(address, customer.token) as socket:
            await subscribed(socket, services, ORDER_EVENTS)
            await socket.subscribe("2", ORDER_EVENTS)  # every subscription of the connection ends with it
            await until(lambda: services.broker.live_subscribers() == 2, "both subscriptions")
            body = await api.raw("mutation { logout { __typename } }", token=customer.token)
            assert body["data"]["logout"]["__typename"] == "AcceptedPayload", body
            assert await socket.closed() == (4403, "Forbidden")
        await until(lambda: services.broker.live_subscribers() == 0, "the subscriptions to end")


async def test_a_deactivated_member_is_noticed_at_the_next_batch(api, services, live):
    """With the re-check interval far away, the change that reaches the subscriber re-loads them."""
    tenant = await shop(api, [Role.ADMIN, Role.MANAGER])
    manager = tenant[Role.MANAGER]
    product = await create_product(services)
    async with graphql_socket(live, manager.token) as socket:
        await subscribed(socket, services, ORDER_EVENTS)
        body = await api.mutate("deactivateUser", "UserIdInput", "__typename", {"id": manager.gid},
                                tenant[Role.ADMIN].token)
        assert body["data"]["deactivateUser"]["__typename"] == "UserPayload", body
        await place_order(api, tenant[Role.ADMIN], [(product, 1)])  # a change the manager would see
        assert await socket.closed() == (4403, "Forbidden")


async def test_losing_the_permission_ends_the_queue_subscription_only(api, database_url):
    async with another_app(database_url, subscription_recheck_seconds=0.2) as (address, services):
        tenant = await api.tenant([Role.ADMIN, Role.ORDER_APPROVER])
        approver = tenant[Role.ORDER_APPROVER]
        async with graphql_socket(address, approver.token) as socket:
            await subscribed(socket, services, QUEUE, "queue")
            await subscribed(socket, services, ORDER_EVENTS, "events", count=2)
            body = await api.mutate("restrictUserPermission", "UserPermissionInput", "__typename",
                                    {"userId": approver.gid, "permission": "ORDER_APPROVE"}, tenant[Role.ADMIN].token)
            assert body["data"]["restrictUserPermission"]["__typename"] == "UserPayload", body
            ended = await socket.receive()
            assert (ended["type"], ended["id"], ended["payload"]["data"]) == ("next", "queue", None), ended
            assert [(e["extensions"]["code"], e["message"]) for e in ended["payload"]["errors"]] == \
                [("FORBIDDEN", "You do not have permission to do this (requires order:approve)")]
            assert await socket.receive() == {"id": "queue", "type": "complete"}
            await until(lambda: services.broker.live_subscribers() == 1, "the queue subscription to end")


async def test_an_api_client_secret_subscribes_until_revoked(api, database_url):
    # The order is placed through `api`'s application, whose commit wakes only its own process: this one
    # reads it at its next poll (or on PostgreSQL when NOTIFY wakes it).
    async with another_app(database_url, subscription_recheck_seconds=0.2, subscription_poll_seconds=0.2) \
            as (address, services):
        tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
        admin = tenant[Role.ADMIN]
        created = succeeded(await api.mutate(
            "createApiClient", "CreateApiClientInput",
            "__typename ... on ApiClientSecretPayload { secret apiClient { id } } ... on MutationError { code }",
            {"name": "ERP", "scopes": ["ORDERS_READ"]}, admin.token), "createApiClient")
        product = await create_product(services)
        async with graphql_socket(address, created["secret"]) as socket:
            await socket.subscribe("queue", QUEUE)  # an API client has no approval queue
            refused = await socket.receive()
            assert (refused["type"], refused["payload"][0]["extensions"]["code"]) == ("error", "FORBIDDEN"), refused
            await subscribed(socket, services, ORDER_EVENTS)
            # A live subscription holds no database connection (the rate limit's charge used one briefly).
            await until(lambda: services.db.engine.pool.checkedout() == 0, "the connections to be returned")
            order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
            assert [e["order"]["id"] for e in await order_events(socket, 2)] == [order["id"]] * 2
            revoked = await api.mutate("revokeApiClient", "ApiClientIdInput", "__typename",
                                       {"id": created["apiClient"]["id"]}, admin.token)
            assert revoked["data"]["revokeApiClient"]["__typename"] == "ApiClientPayload", revoked
            assert await socket.closed() == (4403, "Forbidden")


# --- the same checks as queries, on the right transport -------------------------------------------------------

async def test_queries_and_mutations_are_not_run_over_the_websocket(api, services, live):
    tenant = await api.tenant([Role.CUSTOMER])
    async with graphql_socket(live, tenant[Role.CUSTOMER].token) as socket:
        for operation_id, query in (("q", "{ me { email } }"), ("m", "mutation { logout { __typename } }")):
            await socket.subscribe(operation_id, query)
            message = await socket.receive()
            assert (message["type"], message["id"], message["payload"][0]["extensions"]["code"]) == \
                ("error", operation_id, "WRONG_TRANSPORT"), message
    assert (await api.query("{ me { email } }", token=tenant[Role.CUSTOMER].token))["me"]  # logout never ran


async def test_subscriptions_are_not_run_over_http(api):
    tenant = await api.tenant([Role.CUSTOMER])
    body = await api.raw(ORDER_EVENTS, token=tenant[Role.CUSTOMER].token)
    assert body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == ["WRONG_TRANSPORT"]
    response = await api.client.get("/graphql", params={"query": ORDER_EVENTS},
                                    headers={"authorization": f"Bearer {tenant[Role.CUSTOMER].token}"})
    assert response.json()["errors"][0]["extensions"]["code"] == "WRONG_TRANSPORT"
    for accept in ("multipart/mixed;subscriptionSpec=1.0", "text/event-stream"):  # no HTTP streaming either
        response = await api.client.post("/graphql", json={"query": ORDER_EVENTS}, headers={
            "authorization": f"Bearer {tenant[Role.CUSTOMER].token}", "accept": accept})
        assert response.json()["errors"][0]["extensions"]["code"] == "WRONG_TRANSPORT", accept


async def test_subscriptions_are_validated_and_priced_like_queries(api, database_url):
    tenant = await api.tenant([Role.ADMIN])
    async with another_app(database_url, max_query_depth=3, max_query_cost=5) as (address, services), \
        graphql_socket(address, tenant[Role.ADMIN].token) as socket:
        refused = {
            "unknown": ("subscription { orderEvents { nope } }", None,
                        "Cannot query field 'nope' on type 'OrderUpdate'."),
            "deep": ("subscription { orderEvents { order { delivery { slot { weekday } } } } }", None,
                     "'anonymous' exceeds maximum operation depth of 3"),
            # 12 objects an event: the update, its order and ten lines
            "costly": ("subscription { orderEvents { order { lines { sku } } } }", "QUERY_TOO_COMPLEX",
                       "The query costs 12, more than the maximum of 5 per request."),
        }
        for operation_id, (query, code, text_) in refused.items():
            await socket.subscribe(operation_id, query)
            message = await socket.receive()
            assert (message["type"], message["id"]) == ("error", operation_id), message
            (error,) = message["payload"]
            assert (error.get("extensions", {}).get("code"), error["message"]) == (code, text_), message
        await subscribed(socket, services, "subscription { orderEvents { order { id } } }")  # costs 2
        await socket.subscribe("syntax", "subscription {")  # a syntax error closes (the protocol's 4400)
        closed_with, _reason = await socket.closed()
        assert closed_with == 4400


async def test_a_page_from_another_origin_may_not_open_a_websocket(api, live):
    """Same-origin pages and clients that are not browsers (no Origin) connect; another origin's page does
    not (HTTP 403 at the handshake), as no other origin may call /graphql over HTTP either (no CORS)."""
    tenant = await api.tenant([Role.CUSTOMER])
    async with graphql_socket(live, tenant[Role.CUSTOMER].token, origin=f"http://{live}"):
        pass
    with pytest.raises(Exception, match="403"):
        async with graphql_socket(live, origin="https://evil.example"):
            pass


# --- every server process ----------------------------------------------------------------------------------------

async def test_a_change_made_in_another_server_process_reaches_subscribers(api, backend, database_url):
    """On PostgreSQL through LISTEN/NOTIFY (this process polls only every minute); on SQLite, which has no
    NOTIFY, through the short poll."""
    poll = 60 if backend == "postgresql" else 0.2
    async with another_app(database_url, subscription_poll_seconds=poll) as (address, services):
        tenant = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
        await approval_rule(services, tenant.company_id)
        product = await create_product(services)
        settings = make_settings(database_url)
        async with server_process(settings) as second, graphql_socket(address, tenant[Role.ORDER_APPROVER].token) \
                as socket:
            await subscribed(socket, services, QUEUE)
            async with httpx.AsyncClient(base_url=f"http://{second}") as http:
                order = await place_order(Api(http, services), tenant[Role.CUSTOMER], [(product, 1)])
            change = (await socket.next_data("1"))["approvalQueueChanged"]
    assert (change["orderId"], change["inQueue"]) == (order["id"], True)


async def test_the_listener_reconnects_after_losing_its_connection(api, backend, database_url):
    async with another_app(database_url) as (address, services):
        broker = services.broker
        if backend != "postgresql":  # SQLite has no NOTIFY: nothing listens, commits and polls wake the broker
            assert (broker.running, broker.listening) == (True, False)
            return
        await until(lambda: broker.listening, "the listener to connect")
        tenant = await shop(api, [Role.CUSTOMER])
        product = await create_product(services)
        async with graphql_socket(address, tenant[Role.CUSTOMER].token) as socket:
            await subscribed(socket, services, ORDER_EVENTS)
            async with services.db.engine.connect() as connection:  # what a database restart does to it
                ended = await connection.scalar(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"), {"name": LISTENER_NAME})
            assert ended == 1
            await until(lambda: not broker.listening, "the listener to notice")
            await until(lambda: broker.listening, "the listener to reconnect")
            order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
            assert [e["order"]["id"] for e in await order_events(socket, 2)] == [order["id"]] * 2


async def test_a_change_held_back_by_an_older_transaction_arrives_when_it_ends(api, backend, database_url, services,
                                                                             live):
    """On PostgreSQL a change is served once every older transaction has ended (it could otherwise be skipped):
    the broker looks for it again soon after its NOTIFY, not at the next poll (a minute here)."""
    if backend != "postgresql":
        pytest.skip("SQLite serializes writers: a committed change is always settled")
    tenant = await shop(api, [Role.CUSTOMER])
    product = await create_product(services)
    async with graphql_socket(live, tenant[Role.CUSTOMER].token) as socket:
        await subscribed(socket, services, ORDER_EVENTS)
        async with services.db.engine.connect() as older:
            await older.execute(text("SELECT pg_current_xact_id()"))  # a transaction with an id, left open
            order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
            await until(lambda: services.broker.settling, "the broker to see the change wait")
            await older.rollback()
        assert [e["order"]["id"] for e in await order_events(socket, 2)] == [order["id"]] * 2


# --- the matrix: every subscription, every caller ----------------------------------------------------------------

ALLOWED, FORBIDDEN, UNAUTHORIZED = "allowed", "FORBIDDEN", 4401
CALLERS = ("anonymous", "admin", "manager", "customer", "order_approver", "operator")

# What each caller gets when subscribing: a socket closed at connection_init (4401 without a token), a
# FORBIDDEN error for the operation, or the subscription. test_subscription_matrix checks, for those
# allowed, exactly which changes they then hear of.
SUBSCRIPTION_MATRIX: dict[str, dict[str, object]] = {
    "orderEvents": dict(zip(CALLERS, (UNAUTHORIZED, ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED), strict=True)),
    "approvalQueueChanged": dict(zip(
        CALLERS, (UNAUTHORIZED, ALLOWED, FORBIDDEN, FORBIDDEN, ALLOWED, FORBIDDEN), strict=True)),
}
MATRIX_QUERIES = {"orderEvents": "subscription { orderEvents { kind order { id } } }",
                  "approvalQueueChanged": "subscription { approvalQueueChanged { orderId inQueue } }"}


def test_every_subscription_has_a_matrix_row():
    from schema import build_schema

    subscription_type = build_schema()._schema.subscription_type
    assert subscription_type is not None
    fields = subscription_type.fields
    assert set(fields) == set(SUBSCRIPTION_MATRIX) == set(MATRIX_QUERIES)
    assert all(set(row) == set(CALLERS) for row in SUBSCRIPTION_MATRIX.values())


async def _heard(name: str, caller: str, own: dict, other: dict) -> list:
    """What an allowed caller must hear when a customer of each company places an order that waits for
    approval (the other company's first)."""
    if name == "approvalQueueChanged":
        return [{"orderId": own["id"], "inQueue": True}]
    own_events = [{"kind": kind, "order": {"id": own["id"]}} for kind in ("SUBMIT", "REQUIRE_APPROVAL")]
    if caller == "operator":
        return [{"kind": kind, "order": {"id": other["id"]}} for kind in ("SUBMIT", "REQUIRE_APPROVAL")] + own_events
    return own_events


@pytest.mark.parametrize(("name", "caller"), [(n, c) for n in SUBSCRIPTION_MATRIX for c in CALLERS])
async def test_subscription_matrix(api, services, live, name, caller):
    roles = (Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER)
    own, other = await shop(api, roles), await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    for tenant in (own, other):  # admins and order approvers decide every order
        await approval_rule(services, tenant.company_id, roles=("admin", "order_approver"))
    staff = await operator(api)
    token = {"anonymous": None, "operator": staff.token, **{r.value: own[r].token for r in roles}}[caller]
    expected = SUBSCRIPTION_MATRIX[name][caller]
    product = await create_product(services)
    async with graphql_socket(live) as socket:
        if token is None:
            await socket.send({"type": "connection_init", "payload": {}})
            assert await socket.closed() == (expected, "Unauthorized")
            return
        assert await socket.init({"Authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
        if expected == FORBIDDEN:
            await socket.subscribe("1", MATRIX_QUERIES[name])
            message = await socket.receive()
            assert (message["type"], message["payload"][0]["extensions"]["code"]) == ("error", FORBIDDEN), message
            return
        await subscribed(socket, services, MATRIX_QUERIES[name])
        elsewhere = await place_order(api, other[Role.CUSTOMER], [(product, 1)])
        placed = await place_order(api, own[Role.CUSTOMER], [(product, 1)])
        wanted = await _heard(name, caller, placed, elsewhere)
        assert [(await socket.next_data("1"))[name] for _ in wanted] == wanted

