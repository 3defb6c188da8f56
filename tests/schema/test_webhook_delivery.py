"""Webhooks delivered to a real HTTP receiver (tests/webhook_helpers.Receiver) that verifies every
request with the standardwebhooks library: the events of an order in order, nothing for a rolled-back
change, retries with back-off and the delivery log, redelivery with the same webhook-id, rotation.
Automatic disabling with its email is in test_webhook_disabling.py."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from models import FeedPosition, Job, JobStatus, OrderChange, Role, WebhookEndpoint
from models.base import utcnow
from models.webhook import RETRY_DELAYS
from resolvers.webhook_dispatch import DELIVER_KIND, DISPATCH_KIND, POSITION, dispatch
from schema.relay import parse_global_id, to_global_id
from tests.factories import Api, error_code
from tests.ordering_helpers import add_to_cart, approval_rule, create_product, failed, place_order, shop, submit
from tests.webhook_helpers import (
    DELIVERY_RESULT,
    ENDPOINT_RESULT,
    SECRET_RESULT,
    Receiver,
    create_endpoint,
    deliver,
    deliveries_of,
    make_retries_due,
    mutate,
    pending_delivery_jobs,
    run_due_jobs,
    stored_deliveries,
)
from worker.runner import run_due_jobs as run_worker_jobs

ERROR = "... on MutationError { code message field }"
ORDER_RESULT = f"__typename ... on OrderPayload {{ order {{ id status }} }} {ERROR}"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


async def approve(api: Api, member, order_id: str) -> None:
    result = await mutate(api, "approveOrder", "DecideOrderInput", ORDER_RESULT, {"id": order_id}, member)
    assert result["__typename"] == "OrderPayload", result


async def subscribed(api: Api, receiver: Receiver, admin, events: list[str] | None = None, path: str = "/hooks"):
    created = await create_endpoint(api, admin, receiver.url(path), events)
    receiver.secrets.append(created["secret"])
    return created["webhookEndpoint"]


# --- events of an order, in order, signed ----------------------------------------------------------------

async def test_an_approved_order_is_delivered_as_signed_events_in_order(api, services, receiver):
    tenant = await shop(api)
    admin, buyer, approver = tenant[Role.ADMIN], tenant[Role.CUSTOMER], tenant[Role.ORDER_APPROVER]
    endpoint = await subscribed(api, receiver, admin)
    approvals_only = await subscribed(api, receiver, admin, ["ORDER_APPROVED"], path="/approvals")
    other = await shop(api, [Role.ADMIN])
    await subscribed(api, receiver, other[Role.ADMIN], path="/other-company")
    await approval_rule(services, tenant.company_id)
    product = await create_product(services, price_minor=1234_50, vat_rate=25)

    order = await place_order(api, buyer, [(product, 2)], reference="Ward 7")
    await approve(api, approver, order["id"])
    started = utcnow()
    assert await deliver(services) == 4

    to_endpoint = [r for r in receiver.received if r.path == "/hooks"]
    assert [r.json["type"] for r in to_endpoint] == ["order.submitted", "order.approval_requested", "order.approved"]
    assert [r.path for r in receiver.received if r.path != "/hooks"] == ["/approvals"]  # nothing to /other-company
    for request in receiver.received:
        assert request.verified_by == [receiver.secrets[0 if request.path == "/hooks" else 1]]
        assert request.headers["content-type"] == "application/json"
        assert abs(int(request.headers["webhook-timestamp"]) - started.timestamp()) < 60
    assert len({r.message_id for r in receiver.received}) == 4

    approved = to_endpoint[2].json
    pk = parse_global_id(order["id"])[1]
    assert approved["type"] == "order.approved"
    change_id = approved["data"]["change"]["id"]
    assert parse_global_id(change_id)[0] == "OrderChange"
    feed = "query($id: ID!) { node(id: $id) { ... on OrderChange { kind order { id } } } }"
    assert (await api.query(feed, {"id": change_id}, admin.token))["node"] == {"kind": "APPROVE",
                                                                               "order": {"id": order["id"]}}
    assert approved["data"]["change"] == {
        "id": change_id, "kind": "APPROVE", "fromStatus": "PENDING_APPROVAL", "toStatus": "APPROVED", "comment": "",
        "at": approved["timestamp"], "actorId": to_global_id("Person", approver.user_id)}
    data = approved["data"]["order"]
    assert (data["id"], data["number"], data["status"], data["reference"]) == (
        order["id"], order["number"], "APPROVED", "Ward 7")
    assert data["buyer"] == {"userId": buyer.gid, "name": "Test Customer", "email": buyer.email}
    assert data["totals"] == {"net": {"amount": "2469.00", "currency": "NOK"},
                              "vat": {"amount": "617.25", "currency": "NOK"},
                              "gross": {"amount": "3086.25", "currency": "NOK"},
                              "credited": {"amount": "0.00", "currency": "NOK"}}
    assert [(line["sku"], line["quantity"], line["unitPrice"]) for line in data["lines"]] == [
        (order["lines"][0]["sku"], 2, {"amount": "1234.50", "currency": "NOK"})]
    submitted = to_endpoint[0].json
    assert submitted["data"]["change"]["kind"] == "SUBMIT" and submitted["data"]["change"]["actorId"] == to_global_id(
        "Person", buyer.user_id)
    assert pk == parse_global_id(submitted["data"]["order"]["id"])[1]

    log = await deliveries_of(api, admin, endpoint["id"])  # newest first
    assert [d["eventType"] for d in log] == ["ORDER_APPROVED", "ORDER_APPROVAL_REQUESTED", "ORDER_SUBMITTED"]
    assert [d["messageId"] for d in reversed(log)] == [r.message_id for r in to_endpoint]
    assert [d["payload"] for d in reversed(log)] == [r.json for r in to_endpoint]
    for delivery in log:
        assert (delivery["status"], delivery["attemptCount"], delivery["lastResponseCode"], delivery["lastError"],
                delivery["nextAttemptAt"]) == ("SUCCEEDED", 1, 204, None, None)
        assert [(a["responseCode"], a["error"]) for a in delivery["attempts"]] == [(204, None)]
    assert [d["eventType"] for d in await deliveries_of(api, admin, approvals_only["id"])] == ["ORDER_APPROVED"]


async def test_dispatching_again_creates_and_sends_nothing_new(api, services, receiver):
    tenant = await shop(api)
    await subscribed(api, receiver, tenant[Role.ADMIN])
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    assert await deliver(services) == 2
    assert receiver.types() == ["order.submitted", "order.approved"]

    assert await deliver(services) == 0
    async with services.db.transaction() as session:  # as if the position had not been saved
        await session.execute(update(FeedPosition).where(FeedPosition.name == POSITION).values(txid=0, change_id=0))
    assert await dispatch(services) == 0
    assert await run_due_jobs(services) == 0
    assert len(await stored_deliveries(services)) == 2 and len(receiver.received) == 2


async def test_an_endpoint_gets_only_changes_made_after_it_was_created(api, services, receiver):
    tenant = await shop(api)
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await subscribed(api, receiver, tenant[Role.ADMIN])
    later = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    assert {r.json["data"]["order"]["id"] for r in receiver.received} == {later["id"]}


# --- nothing for what was rolled back --------------------------------------------------------------------

async def test_a_rolled_back_submission_sends_nothing(api, services, receiver):
    tenant = await shop(api)
    await subscribed(api, receiver, tenant[Role.ADMIN])
    buyer = tenant[Role.CUSTOMER]
    too_dear = await create_product(services, price_minor=400_000_00)  # above the default credit of 300 000
    await add_to_cart(api, buyer, product_id=too_dear, quantity=1)

    refused = failed(await submit(api, buyer), "submitOrder")  # refused after the order's `submit` event was written

    assert refused["code"] == "CREDIT_LIMIT_EXCEEDED"
    async with services.db.read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OrderChange)) == 0
    assert await deliver(services) == 0
    assert receiver.received == [] and await stored_deliveries(services) == []

    # The same receiver gets what is committed.
    await mutate(api, "updateCartLine", "UpdateCartLineInput", "__typename", {
        "productId": to_global_id("Product", too_dear), "quantity": 0}, buyer)
    affordable = await create_product(services)
    await place_order(api, buyer, [(affordable, 1)])
    assert await deliver(services) == 2
    assert receiver.types() == ["order.submitted", "order.approved"]


# --- failures, back-off and the log ------------------------------------------------------------------------

async def test_a_failing_receiver_is_retried_with_back_off_until_it_answers(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin, ["ORDER_APPROVED"])
    answers = [500, 503, 302, 200]
    receiver.answer = lambda n: answers[n - 1]
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])

    await deliver(services)
    for n, delay in enumerate(RETRY_DELAYS[:3], start=1):
        [delivery] = await deliveries_of(api, admin, endpoint["id"])
        [job] = await pending_delivery_jobs(services)
        last = delivery["attempts"][-1]["attemptedAt"]
        assert (delivery["status"], delivery["attemptCount"], delivery["lastResponseCode"]) == (
            "PENDING", n, answers[n - 1])
        assert delivery["nextAttemptAt"] == job.run_at.isoformat()
        assert job.run_at - _at(last) == pytest.approx(delay, abs=timedelta(seconds=1))
        assert await run_due_jobs(services) == 0  # not due yet
        assert await make_retries_due(services) == 1
        await run_due_jobs(services)

    [delivery] = await deliveries_of(api, admin, endpoint["id"])
    assert (delivery["status"], delivery["attemptCount"], delivery["lastResponseCode"], delivery["nextAttemptAt"]) == (
        "SUCCEEDED", 4, 200, None)
    assert [(a["responseCode"], a["error"]) for a in delivery["attempts"]] == [
        (500, "HTTP 500"), (503, "HTTP 503"), (302, "HTTP 302 (redirects are not followed)"), (200, None)]
    assert len({r.message_id for r in receiver.received}) == 1 and len(receiver.received) == 4
    assert all(r.verified_by == receiver.secrets for r in receiver.received)
    assert [r.path for r in receiver.received] == ["/hooks"] * 4  # the redirect was not followed
    assert await pending_delivery_jobs(services) == []
    row = await _endpoint(services, endpoint["id"])
    assert (row.enabled, row.consecutive_failures) == (True, 0)


async def test_a_receiver_that_is_down_for_minutes_is_not_disabled(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin)
    receiver.status = 500
    product = await create_product(services)
    for _ in range(5):  # ten events, each failing its first attempt
        await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    assert (await _endpoint(services, endpoint["id"])).consecutive_failures == 10

    receiver.status = 200
    await make_retries_due(services)
    await run_due_jobs(services)

    row = await _endpoint(services, endpoint["id"])
    assert (row.enabled, row.consecutive_failures) == (True, 0)
    assert {d["status"] for d in await deliveries_of(api, admin, endpoint["id"])} == {"SUCCEEDED"}


async def test_an_unreachable_endpoint_is_logged_without_a_response_code(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin, ["ORDER_APPROVED"])
    url = receiver.url()
    receiver.stop()  # nothing listens there any more
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])

    await deliver(services)

    [delivery] = await deliveries_of(api, admin, endpoint["id"])
    [attempt] = delivery["attempts"]
    assert (delivery["status"], attempt["responseCode"], delivery["lastResponseCode"]) == ("PENDING", None, None)
    assert attempt["error"].startswith("ConnectError"), attempt
    assert url.startswith("http://127.0.0.1:")


# --- redelivery ---------------------------------------------------------------------------------------------

async def test_a_redelivery_is_sent_now_with_the_same_webhook_id(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin, ["ORDER_APPROVED"])
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    [delivery] = await deliveries_of(api, admin, endpoint["id"])

    again = await mutate(api, "redeliverWebhook", "RedeliverWebhookInput", DELIVERY_RESULT,
                         {"deliveryId": delivery["id"]}, admin)

    assert (again["delivery"]["id"], again["delivery"]["status"]) == (delivery["id"], "PENDING")
    assert await run_due_jobs(services) == 1
    first, second = receiver.received
    assert second.message_id == first.message_id == delivery["messageId"]
    assert second.body == first.body and second.verified_by == receiver.secrets
    [after] = await deliveries_of(api, admin, endpoint["id"])
    assert (after["status"], after["attemptCount"], [a["responseCode"] for a in after["attempts"]]) == (
        "SUCCEEDED", 2, [204, 204])


async def test_a_redelivery_of_a_pending_delivery_takes_the_place_of_its_scheduled_retry(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin, ["ORDER_APPROVED"])
    receiver.status = 500
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    [delivery] = await deliveries_of(api, admin, endpoint["id"])
    receiver.status = 200

    await mutate(api, "redeliverWebhook", "RedeliverWebhookInput", DELIVERY_RESULT, {"deliveryId": delivery["id"]},
                 admin)
    assert await run_due_jobs(services) == 1  # the redelivery; the retry is due in 5 s
    await make_retries_due(services)
    assert await run_due_jobs(services) == 1  # the retry finds its attempt made, and sends nothing

    assert [r.message_id for r in receiver.received] == [delivery["messageId"]] * 2
    [after] = await deliveries_of(api, admin, endpoint["id"])
    assert (after["status"], after["attemptCount"]) == ("SUCCEEDED", 2)


async def test_only_an_administrator_redelivers_and_only_to_an_enabled_endpoint(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin, ["ORDER_APPROVED"])
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    [delivery] = await deliveries_of(api, admin, endpoint["id"])
    other = (await shop(api, [Role.ADMIN]))[Role.ADMIN]

    body = await api.mutate("redeliverWebhook", "RedeliverWebhookInput", DELIVERY_RESULT,
                            {"deliveryId": delivery["id"]}, tenant[Role.MANAGER].token)
    assert error_code(body) == "FORBIDDEN"
    theirs = await mutate(api, "redeliverWebhook", "RedeliverWebhookInput", DELIVERY_RESULT,
                          {"deliveryId": delivery["id"]}, other)
    assert (theirs["code"], theirs["field"]) == ("NOT_FOUND", "deliveryId")
    await mutate(api, "updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT,
                 {"id": endpoint["id"], "enabled": False}, admin)
    disabled = await mutate(api, "redeliverWebhook", "RedeliverWebhookInput", DELIVERY_RESULT,
                            {"deliveryId": delivery["id"]}, admin)
    assert (disabled["code"], disabled["message"]) == (
        "INVALID_STATE", "The endpoint is disabled: enable it before redelivering")
    assert await run_due_jobs(services) == 0 and len(receiver.received) == 1


# --- rotation ------------------------------------------------------------------------------------------------

async def test_during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(api, services, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    endpoint = await subscribed(api, receiver, admin, ["ORDER_APPROVED"])
    old = receiver.secrets[0]
    rotated = await mutate(api, "rotateWebhookSecret", "RotateWebhookSecretInput", SECRET_RESULT,
                           {"id": endpoint["id"]}, admin)
    new = rotated["secret"]
    receiver.secrets.append(new)
    product = await create_product(services)

    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    during = receiver.received[-1]
    assert during.verified_by == [old, new]
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    async with services.db.transaction() as session:  # a day later
        await session.execute(
            update(WebhookEndpoint).values(previous_secret_expires_at=utcnow() - timedelta(seconds=1)))
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    after = receiver.received[-1]
    assert after.verified_by == [new]
    assert len(after.headers["webhook-signature"].split(" ")) == 1


# --- helpers ------------------------------------------------------------------------------------------------

def _at(text: str):
    from datetime import datetime
    return datetime.fromisoformat(text)


async def _endpoint(services, gid: str) -> WebhookEndpoint:
    async with services.db.read_sessions() as session:
        return await session.get_one(WebhookEndpoint, parse_global_id(gid)[1])


async def test_delivery_jobs_are_done_when_their_attempt_is(api, services, receiver):
    tenant = await shop(api)
    await subscribed(api, receiver, tenant[Role.ADMIN], ["ORDER_APPROVED"])
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)
    async with services.db.read_sessions() as session:
        rows = (await session.execute(select(Job.kind, Job.status, Job.payload))).all()
    [(kind, status, payload)] = rows
    assert (kind, status) == ("webhook.deliver", JobStatus.DONE.value)
    assert set(payload) == {"delivery_id", "attempt"} and json.dumps(payload)


async def test_the_worker_s_schedule_dispatches_and_delivers(api, services, receiver):
    """Through the worker's own loop: the per-second dispatch entry of worker/schedule.py, then the attempt."""
    tenant = await shop(api)
    await subscribed(api, receiver, tenant[Role.ADMIN], ["ORDER_APPROVED"])
    order = await place_order(api, tenant[Role.CUSTOMER], [(await create_product(services), 1)])
    deadline = time.monotonic() + 20
    while not receiver.received:  # a change waits until it is settled (PostgreSQL), the next second's run takes it
        assert time.monotonic() < deadline, "nothing was delivered within 20 s"
        await run_worker_jobs(services, "test-worker", kinds=[DISPATCH_KIND, DELIVER_KIND])
        await asyncio.sleep(0.05)
    [request] = receiver.received
    assert (request.json["type"], request.json["data"]["order"]["id"]) == ("order.approved", order["id"])
    assert request.verified_by == receiver.secrets
