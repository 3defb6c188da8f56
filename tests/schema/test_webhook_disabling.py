"""An endpoint that fails every attempt for more than a day is disabled, and the company's administrators
are told by email through a real SMTP server; what was pending for it is not sent, nothing new is queued
for it, and once enabled again a failed delivery can be redelivered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import AuditEntry, MembershipStatus, Role, WebhookEndpoint
from models.webhook import MAX_ATTEMPTS, RETRY_DELAYS
from schema.relay import parse_global_id
from tests.factories import create_member
from tests.ordering_helpers import create_product, place_order, shop
from tests.schema import test_mail
from tests.schema.test_mail import delivered
from tests.webhook_helpers import (
    DELIVERY_RESULT,
    ENDPOINT_RESULT,
    Receiver,
    create_endpoint,
    deliver,
    deliveries_of,
    make_retries_due,
    mutate,
    pending_delivery_jobs,
    run_due_jobs,
)

# Mail goes through test_mail's real SMTP server (its fixtures, module-scoped here too).
smtp_server, smtp, settings = test_mail.smtp_server, test_mail.smtp, test_mail.settings


@pytest.fixture
def receiver():
    server = Receiver(status=500).start()
    yield server
    server.stop()


async def test_an_endpoint_failing_for_more_than_a_day_is_disabled_and_its_administrators_emailed(
    api, services, smtp, receiver,
):
    tenant = await shop(api)
    admin, buyer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]
    second_admin = await create_member(services, tenant.company_id, tenant.group_id, Role.ADMIN)
    await create_member(services, tenant.company_id, tenant.group_id, Role.ADMIN, status=MembershipStatus.DEACTIVATED)
    created = await create_endpoint(api, admin, receiver.url(), ["ORDER_SUBMITTED", "ORDER_APPROVED"])
    receiver.secrets.append(created["secret"])
    endpoint = created["webhookEndpoint"]
    product = await create_product(services)
    await place_order(api, buyer, [(product, 1)])  # order.submitted and order.approved
    assert sum(RETRY_DELAYS, start=RETRY_DELAYS[0] * 0).total_seconds() > 24 * 3600

    await deliver(services)
    for _ in range(MAX_ATTEMPTS - 1):  # each retry made due, as if its time had come
        assert await make_retries_due(services) >= 1
        await run_due_jobs(services)
    await services.mailer.drain()

    # The first delivery failed its whole schedule (the second was one attempt behind): the endpoint is
    # disabled, and the second delivery's last attempt is not made.
    row = await _endpoint(services, endpoint["id"])
    sent = 2 * MAX_ATTEMPTS - 1
    assert row.enabled is False and row.consecutive_failures == sent
    assert row.disabled_reason == f"Disabled automatically after {sent} failed attempts in a row (the last: HTTP 500)"
    log = await deliveries_of(api, admin, endpoint["id"])  # newest first
    assert [(d["eventType"], d["status"], d["attemptCount"], d["lastError"]) for d in log] == [
        ("ORDER_APPROVED", "FAILED", MAX_ATTEMPTS - 1, "Not sent: the endpoint is disabled"),
        ("ORDER_SUBMITTED", "FAILED", MAX_ATTEMPTS, "HTTP 500")]
    assert [a["responseCode"] for a in log[1]["attempts"]] == [500] * MAX_ATTEMPTS
    assert len(receiver.received) == sent
    assert all(r.verified_by == receiver.secrets for r in receiver.received)
    assert await pending_delivery_jobs(services) == []

    # Both active administrators are told; the deactivated one and the other roles are not.
    for address in (admin.email, second_admin.email):
        [message] = await delivered(services, smtp, address)
        assert message["Subject"] == "A webhook endpoint was disabled"
        body = message.get_content()
        assert f"Procura stopped sending webhooks to {receiver.url()}" in body
        assert f"{sent} attempts in a row; the last: HTTP 500" in body
    assert len(smtp.envelopes) == 2
    async with services.db.read_sessions() as session:
        entry = (await session.execute(select(AuditEntry.actor_user_id, AuditEntry.before, AuditEntry.after).where(
            AuditEntry.entity == "webhook_endpoint", AuditEntry.action == "disable"))).one()
    assert (entry.actor_user_id, entry.before["enabled"], entry.after["enabled"]) == (None, True, False)

    # Disabled: a new change is not sent to it.
    await place_order(api, buyer, [(product, 1)])
    await deliver(services)
    assert len(await deliveries_of(api, admin, endpoint["id"])) == 2 and len(receiver.received) == sent

    # Enabled again, with a working receiver: a failed delivery is redelivered with its webhook-id.
    receiver.status = 200
    enabled = await mutate(api, "updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT,
                           {"id": endpoint["id"], "enabled": True}, admin)
    assert (enabled["webhookEndpoint"]["enabled"], enabled["webhookEndpoint"]["consecutiveFailures"]) == (True, 0)
    redelivered = await mutate(api, "redeliverWebhook", "RedeliverWebhookInput", DELIVERY_RESULT,
                               {"deliveryId": log[1]["id"]}, admin)
    assert redelivered["delivery"]["status"] == "PENDING"
    await run_due_jobs(services)
    assert receiver.received[-1].message_id == log[1]["messageId"]
    [_, submitted] = await deliveries_of(api, admin, endpoint["id"])
    assert (submitted["status"], submitted["attemptCount"], submitted["lastResponseCode"]) == (
        "SUCCEEDED", MAX_ATTEMPTS + 1, 200)


async def test_what_was_pending_for_a_disabled_endpoint_is_not_sent(api, services, smtp, receiver):
    tenant = await shop(api)
    admin = tenant[Role.ADMIN]
    created = await create_endpoint(api, admin, receiver.url(), ["ORDER_APPROVED"])
    endpoint = created["webhookEndpoint"]
    product = await create_product(services)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    await deliver(services)  # the first attempt fails; a retry is scheduled
    assert len(await pending_delivery_jobs(services)) == 1

    await mutate(api, "updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT,
                 {"id": endpoint["id"], "enabled": False}, admin)
    await make_retries_due(services)
    await run_due_jobs(services)

    [delivery] = await deliveries_of(api, admin, endpoint["id"])
    assert (delivery["status"], delivery["attemptCount"], delivery["lastError"]) == (
        "FAILED", 1, "Not sent: the endpoint is disabled")
    assert len(receiver.received) == 1
    await services.mailer.drain()
    assert smtp.envelopes == []  # disabled by the company: nobody is emailed


async def _endpoint(services, gid: str) -> WebhookEndpoint:
    async with services.db.read_sessions() as session:
        return await session.get_one(WebhookEndpoint, parse_global_id(gid)[1])
