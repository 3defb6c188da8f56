"""Approval emails through a real SMTP server (aiosmtpd): multipart text and HTML with what an approver needs
to decide (buyer, lines, totals, reference, end customer and note, rule and tier, budget impact), user-entered
text escaped in the HTML and plain in the text; reminders and escalation by the worker, once each; an escalated
step decided by an administrator; the buyer and the approvers told when a waiting order is cancelled."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import select, update

from models import AuditEntry, EndCustomer, OrderApprovalStep, OutboxMessage, Role
from models.base import utcnow
from resolvers.approval_reminder import REMIND_KIND, remind_waiting_steps
from tests.ordering_helpers import next_weekday, pk_of
from tests.schema import test_mail
from tests.schema.test_delegation import named_rule_tenant, set_delegate
from tests.schema.test_mail import delivered
from tests.schema.test_orders import units
from tests.spend_helpers import (
    call,
    code_of,
    create_product,
    group_budget,
    ok,
    order_pk,
    placed,
    rule,
    spend_tenant,
    steps,
    tier,
)
from worker.runner import run_due_jobs

HOSTILE_REFERENCE = """<script>alert("ref")</script> & Co's"""
HOSTILE_NOTE = """<b onclick='x()'>Nuts & "dairy"</b>"""
HOUR = timedelta(hours=1)

# test_mail's real SMTP server and the settings that deliver through it.
smtp_server, smtp, settings = test_mail.smtp_server, test_mail.smtp, test_mail.settings


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts of a multipart/alternative message."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = list(message.iter_parts())
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    return text.get_content().replace("\r\n", "\n"), html.get_content()


async def waiting_order(api, services, st, *, end_customer: bool = False) -> dict:
    """An order of the tenant's customer waiting for the order approvers (a rule over 0), counted against a
    group budget of 1000.00."""
    await rule(api, st, name="Amount rule", condition="TOTAL_ABOVE", threshold="0.00", tiers=[tier("ORDER_APPROVER")])
    await group_budget(api, st, 1000_00)
    product = await create_product(services, net_minor=80_00, category="Office")
    cart: dict = {"reference": HOSTILE_REFERENCE}
    if end_customer:
        u = await units(api, st[Role.ADMIN])
        async with services.db.transaction() as session:
            await session.execute(update(EndCustomer).where(EndCustomer.id == pk_of(u["astrid"]))
                                  .values(note=HOSTILE_NOTE))
        cart |= {"endCustomerId": u["astrid"], "deliverySlotId": u["tuesday"],
                 "deliveryDate": next_weekday(1).isoformat()}
    order = await placed(api, st[Role.CUSTOMER], product, 2, **cart)
    assert order["status"] == "PENDING_APPROVAL", order
    return order


async def test_the_approval_email_has_what_the_approver_decides_on_in_text_and_html(api, services, smtp):
    st = await spend_tenant(api)
    order = await waiting_order(api, services, st, end_customer=True)
    approver, buyer = st[Role.ORDER_APPROVER], st[Role.CUSTOMER]

    [message] = await delivered(services, smtp, approver.email)
    number = order["number"]
    assert message["Subject"] == f"Order {number} awaits your approval"
    text, html = parts(message)
    for expected in (
        f"Order {number} waits for your decision.",
        f"Buyer: Test Customer <{buyer.email}>, ",
        f"Reference: {HOSTILE_REFERENCE}\n",  # plain in the text part
        "End customer: Astrid\n",
        f"Note: {HOSTILE_NOTE}\n",
        "NOK excl. VAT\n",
        "Net:   160.00 NOK\nVAT:   40.00 NOK\nTotal: 200.00 NOK\n",
        "- Amount rule, tier 1: Order total above the rule's amount\n",
        "- Group budget: this order 200.00 NOK; 800.00 of 1000.00 NOK left after it\n",
        "Approve: https://procura.example/approval?token=",
        "Reject:  https://procura.example/approval?token=",
        "work for 72 hours. Or decide it in your approval queue in Procura: https://procura.example\n",
    ):
        assert expected in text, (expected, text)
    assert "- 2 pcs " in text and " at 80.00: 160.00 NOK excl. VAT" in text, text
    # The HTML part escapes whatever a buyer typed: no markup of theirs survives.
    assert "<script>" not in html and "onclick" not in html.replace("onclick=&#39;", "")
    assert "&lt;script&gt;alert(&#34;ref&#34;)&lt;/script&gt; &amp; Co&#39;s" in html
    assert "&lt;b onclick=&#39;x()&#39;&gt;Nuts &amp; &#34;dairy&#34;&lt;/b&gt;" in html
    assert "<b onclick" not in html
    for expected in ("Astrid", "200.00 NOK", "Amount rule, tier 1", "800.00 of 1000.00 NOK left after it",
                     f"Test Customer &lt;{buyer.email}&gt;"):
        assert expected in html, (expected, html)
    # The buyer, who is no approver, got no approval request.
    assert smtp.to(buyer.email) == []


async def test_without_smtp_the_outbox_keeps_both_parts(api, services):
    st = await spend_tenant(api)
    await waiting_order(api, services, st)
    async with services.db.read_sessions() as session:
        message = await session.scalar(select(OutboxMessage).where(
            OutboxMessage.recipient == st[Role.ORDER_APPROVER].email))
    assert message is not None and message.subject.endswith("awaits your approval")
    assert f"Reference: {HOSTILE_REFERENCE}" in message.body
    assert "&lt;script&gt;" in (message.html_body or "") and "<script>" not in (message.html_body or "")


async def set_step(services, order_gid: str, **values) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(OrderApprovalStep).where(
            OrderApprovalStep.order_id == order_pk(order_gid)).values(**values))


async def test_a_waiting_step_reminds_its_approvers_once_then_escalates_to_administrators_once(api, services, smtp):
    st = await spend_tenant(api)
    admin, approver = st[Role.ADMIN], st[Role.ORDER_APPROVER]
    order = await waiting_order(api, services, st)
    await delivered(services, smtp, approver.email)
    [step] = await steps(services, order["id"])
    assert step.waiting_since is not None and step.waiting_since <= utcnow()
    assert (step.reminded_at, step.escalated_at) == (None, None)

    # Not due yet: 47 hours of the default 48.
    assert await remind_waiting_steps(services, now=step.waiting_since + 47 * HOUR) == (0, 0)
    # The worker's scheduled run (approval.remind, every 5 minutes) reminds a step that waited 49 hours.
    await set_step(services, order["id"], waiting_since=utcnow() - 49 * HOUR)
    assert await run_due_jobs(services, kinds=[REMIND_KIND]) == 1
    [_, reminder] = await delivered(services, smtp, approver.email, count=2)
    assert reminder["Subject"] == f"Reminder: order {order['number']} awaits your approval"
    text, _ = parts(reminder)
    assert text.startswith(f"Reminder: order {order['number']} has waited for your decision since ")
    assert "Amount rule, tier 1" in text
    [step] = await steps(services, order["id"])
    reminded_at = step.reminded_at
    assert reminded_at is not None and step.escalated_at is None

    # Once: later runs (the same slot again, or any time later) remind nobody again.
    assert await remind_waiting_steps(services, now=utcnow()) == (0, 0)
    assert await remind_waiting_steps(services, now=reminded_at + 47 * HOUR) == (0, 0)
    # Before escalation an administrator may not decide a tier that is the order approvers'.
    refused = await call(api, "approveOrder", {"id": order["id"], "comment": ""}, admin.token)
    assert code_of(refused) == "NOT_AN_APPROVER"

    # 48 hours after the reminder the step is offered to the administrators as well, once.
    assert await remind_waiting_steps(services, now=reminded_at + 48 * HOUR) == (0, 1)
    assert await remind_waiting_steps(services, now=reminded_at + 96 * HOUR) == (0, 0)
    [escalation] = await delivered(services, smtp, admin.email)
    assert escalation["Subject"] == f"Order {order['number']} waits for a decision: you can decide it"
    text, html = parts(escalation)
    assert "As an administrator of " in text and "Amount rule, tier 1" in text and "&lt;script&gt;" in html
    assert len(smtp.to(approver.email)) == 2  # the approvers were reminded once, and not mailed again
    [step] = await steps(services, order["id"])
    assert step.escalated_at == reminded_at + 48 * HOUR
    assert step.approver_keys == " role:order_approver role:admin " and step.roles == ["order_approver", "admin"]
    async with services.db.read_sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.company_id == st.company_id, AuditEntry.entity == "order"))).all()
    assert actions.count("escalate") == 1

    # The administrator decides it now.
    approved = (await ok(api, "approveOrder", {"id": order["id"], "comment": "Escalated to me"}, admin.token))
    assert approved["order"]["status"] == "APPROVED"
    # A decided step is neither reminded nor escalated.
    assert await remind_waiting_steps(services, now=utcnow() + 500 * HOUR) == (0, 0)


async def test_reminders_and_cancellation_notices_go_to_the_substitute_of_an_absent_approver(api, services, smtp):
    st, deputy, product = await named_rule_tenant(api, services)
    approver = st[Role.ORDER_APPROVER]
    assert (await set_delegate(api, approver.token, delegateId=deputy.gid))["__typename"] != "MutationError"
    order = await placed(api, st[Role.CUSTOMER], product, 1)
    await delivered(services, smtp, deputy.email)  # the request went to the substitute too

    await set_step(services, order["id"], waiting_since=utcnow() - 49 * HOUR)
    assert await remind_waiting_steps(services, now=utcnow()) == (1, 0)

    for address in (approver.email, deputy.email):
        [_, reminder] = await delivered(services, smtp, address, count=2)
        assert reminder["Subject"] == f"Reminder: order {order['number']} awaits your approval"

    # Cancelled: the substitute, who was asked, is told as well.
    await ok(api, "cancelOrder", {"id": order["id"], "reason": "Wrong size"}, st[Role.CUSTOMER].token)
    for address in (approver.email, deputy.email):
        [*_, notice] = await delivered(services, smtp, address, count=3)
        assert notice["Subject"] == f"Order {order['number']} was cancelled"


async def test_the_buyer_cancelling_a_waiting_order_tells_its_approvers(api, services, smtp):
    st = await spend_tenant(api)
    approver, buyer = st[Role.ORDER_APPROVER], st[Role.CUSTOMER]
    order = await waiting_order(api, services, st)
    await delivered(services, smtp, approver.email)

    await ok(api, "cancelOrder", {"id": order["id"], "reason": "Ordered <twice> & more"}, buyer.token)

    [_, notice] = await delivered(services, smtp, approver.email, count=2)
    assert notice["Subject"] == f"Order {order['number']} was cancelled"
    text, html = parts(notice)
    assert f"Order {order['number']} (200.00 NOK) by Test Customer was cancelled while it waited" in text
    assert "Cancelled by: Test Customer\nReason: Ordered <twice> & more\n" in text
    assert "Ordered &lt;twice&gt; &amp; more" in html
    assert smtp.to(buyer.email) == []  # who cancelled knows


async def test_a_manager_cancelling_a_waiting_order_tells_the_buyer_and_the_approvers(api, services, smtp):
    st = await spend_tenant(api)
    approver, buyer, manager = st[Role.ORDER_APPROVER], st[Role.CUSTOMER], st[Role.MANAGER]
    order = await waiting_order(api, services, st)
    await delivered(services, smtp, approver.email)

    await ok(api, "cancelOrder", {"id": order["id"], "reason": ""}, manager.token)

    [notice] = await delivered(services, smtp, buyer.email)
    text, _ = parts(notice)
    assert text.startswith(f"Your order {order['number']} (200.00 NOK) was cancelled while it waited for approval.")
    assert "Cancelled by: Test Manager\n" in text and "Reason:" not in text
    assert len(await delivered(services, smtp, approver.email, count=2)) == 2
    assert smtp.to(manager.email) == []


async def test_a_refused_cancellation_tells_nobody(api, services, smtp):
    st = await spend_tenant(api)
    approver = st[Role.ORDER_APPROVER]
    order = await waiting_order(api, services, st)
    await delivered(services, smtp, approver.email)

    refused = await call(api, "cancelOrder", {"id": order["id"], "reason": "Not mine to cancel"}, approver.token)

    assert code_of(refused) == "FORBIDDEN"
    await services.mailer.drain()
    assert len(smtp.messages) == 1  # the approval request only
    [step] = await steps(services, order["id"])
    assert (step.is_current, step.decision) == (True, None)
