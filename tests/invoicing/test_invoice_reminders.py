"""Invoice reminders and overdue notices through the worker, delivered to a real SMTP server: once each, to the
company's contact address and active administrators, with what is needed to pay, escaped in HTML; nothing for
invoices that are paid, credited, not due yet, or credit notes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from models import OutboxMessage, Role
from models.base import utcnow
from models.invoice import InvoiceKind
from models.user import MembershipStatus
from resolvers.invoice_reminder import REMIND_KIND, Sent, send_invoice_reminders
from schema.relay import to_global_id
from tests.factories import create_company, create_member, operator
from tests.invoicing.invoice_factory import create_invoice, invoice_row
from tests.schema import test_mail
from tests.schema.test_approval_mail import parts
from tests.schema.test_mail import PUBLIC_URL, delivered
from worker.runner import run_due_jobs
from worker.schedule import DailyAt

# test_mail's real SMTP server and the settings that deliver through it.
smtp_server, smtp, settings = test_mail.smtp_server, test_mail.smtp, test_mail.settings

HOSTILE_COMPANY = """<script>alert("co")</script> & Søn's AS"""
HOSTILE_RECIPIENT = """<b onclick='x()'>Lager & "drift"</b>"""
DAY = timedelta(days=1)


async def company_with_people(services, name: str = "Fjord Bygg AS"):
    """A company whose contact address, two active administrators, a deactivated administrator and a buyer exist;
    returns (company_id, the addresses that should get invoice mail)."""
    company_id, group = await create_company(services, name=name, contact_email="faktura@fjord.example")
    first = await create_member(services, company_id, group, Role.ADMIN, email="admin.one@fjord.example")
    second = await create_member(services, company_id, group, Role.ADMIN, email="Faktura@Fjord.example")
    await create_member(services, company_id, group, Role.ADMIN, email="gone@fjord.example",
                        status=MembershipStatus.DEACTIVATED)
    await create_member(services, company_id, group, Role.CUSTOMER, email="buyer@fjord.example")
    await create_member(services, company_id, group, Role.MANAGER, email="manager@fjord.example")
    assert second.email.lower() == "faktura@fjord.example"  # the same address as the contact: mailed once
    return company_id, ["faktura@fjord.example", first.email]


async def outbox(services) -> list[OutboxMessage]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_a_reminder_before_the_due_date_and_an_overdue_notice_after_it_each_once(api, services, smtp):
    company, addresses = await company_with_people(services)
    today = utcnow().date()
    due_soon = await create_invoice(services, company, gross="1250.00", paid="250.00", due_date=today + 3 * DAY)
    overdue = await create_invoice(services, company, gross="99.90", due_date=today - DAY)
    # Nothing for these: due later than the reminder days, paid, credited, a credit note, due today but paid.
    await create_invoice(services, company, gross="10.00", due_date=today + 4 * DAY)
    await create_invoice(services, company, gross="10.00", paid="10.00", due_date=today + DAY)
    await create_invoice(services, company, gross="10.00", credited="10.00", due_date=today - 5 * DAY)
    await create_invoice(services, company, gross="10.00", paid="4.00", credited="6.00", due_date=today - 5 * DAY)
    await create_invoice(services, company, gross="10.00", kind=InvoiceKind.CREDIT_NOTE, due_date=today - 5 * DAY)

    sent = await send_invoice_reminders(services, now=utcnow())

    assert (sent.reminders, sent.overdue_notices) == (1, 1)
    for address in addresses:
        notice, reminder = sorted(await delivered(services, smtp, address, count=2), key=lambda m: m["Subject"])
        assert reminder["Subject"] == f"Reminder: invoice {due_soon.number} is due on {due_soon.due_date}"
        assert notice["Subject"] == f"Invoice {overdue.number} is overdue"
    for other in ("gone@fjord.example", "buyer@fjord.example", "manager@fjord.example"):
        assert smtp.to(other) == []
    text, html = parts(reminder)
    assert text.startswith(f"Invoice {due_soon.number} to Fjord Bygg AS is due on {due_soon.due_date}, "
                           "and 1000.00 NOK is still to pay.")
    for line in (f"Invoice number: {due_soon.number}", "Invoice amount: 1250.00 NOK", "Paid so far: 250.00 NOK",
                 "To pay: 1000.00 NOK", f"Due date: {due_soon.due_date}", "Pay to account: 15032080119",
                 f"KID: {due_soon.kid}", f"{PUBLIC_URL}/export/invoices/{to_global_id('Invoice', due_soon.id)}.pdf"):
        assert line in text, (line, text)
    for part in (f"<td>{due_soon.kid}</td>", "<td>15032080119</td>", "250.00 NOK", "1000.00 NOK"):
        assert part in html
    text, _ = parts(notice)
    assert "is overdue: 99.90 NOK is" in text and "Paid so far: 0.00 NOK" in text
    assert (await invoice_row(services, due_soon.id)).reminder_sent_at is not None
    assert (await invoice_row(services, overdue.id)).overdue_notice_sent_at is not None
    assert (await invoice_row(services, overdue.id)).reminder_sent_at is None

    # Once: the same day again, and the days after, send nothing more for them.
    assert await send_invoice_reminders(services, now=utcnow()) == Sent(0, 0)
    # The next day the one due in four days comes within the three reminder days: its reminder, once.
    assert await send_invoice_reminders(services, now=utcnow() + DAY) == Sent(1, 0)
    assert await send_invoice_reminders(services, now=utcnow() + 2 * DAY) == Sent(0, 0)
    # When the one due soon passes its due date unpaid, its overdue notice follows, once.
    assert await send_invoice_reminders(services, now=utcnow() + 4 * DAY) == Sent(0, 1)
    assert await send_invoice_reminders(services, now=utcnow() + 4 * DAY) == Sent(0, 0)
    await delivered(services, smtp, addresses[0], count=4)
    assert len(await outbox(services)) == 4 * len(addresses)


async def test_the_scheduled_run_sends_each_mail_once_however_many_workers_run_it(api, services, smtp):
    company, addresses = await company_with_people(services)
    slot_day = DailyAt(7, 0).slot(utcnow()).date()  # the run covers what is due on its slot's date
    soon = await create_invoice(services, company, gross="500.00", due_date=slot_day + 2 * DAY)
    late = await create_invoice(services, company, gross="700.00", due_date=slot_day - 3 * DAY)

    ran = await asyncio.gather(run_due_jobs(services, "worker-a", kinds=[REMIND_KIND]),
                               run_due_jobs(services, "worker-b", kinds=[REMIND_KIND]),
                               send_invoice_reminders(services, now=utcnow()))
    assert ran[0] + ran[1] == 1  # the slot's run is queued once and run once
    assert await run_due_jobs(services, "worker-c", kinds=[REMIND_KIND]) == 0
    subjects = sorted(m["Subject"] for m in await delivered(services, smtp, addresses[1], count=2))
    assert subjects == [f"Invoice {late.number} is overdue", f"Reminder: invoice {soon.number} is due on "
                        f"{soon.due_date}"]
    assert len(await outbox(services)) == 2 * len(addresses)


async def test_user_entered_names_are_escaped_in_html_and_kept_in_text(api, services, smtp):
    company, addresses = await company_with_people(services, name=HOSTILE_COMPANY)
    invoice = await create_invoice(services, company, gross="100.00", due_date=utcnow().date() + DAY,
                                   recipient_name=HOSTILE_RECIPIENT, recipient_reference="<i>PO & 7</i>")
    await send_invoice_reminders(services, now=utcnow())
    [message] = await delivered(services, smtp, addresses[0])
    text, html = parts(message)
    assert f"to {HOSTILE_COMPANY} is due" in text
    assert f"Recipient: {HOSTILE_RECIPIENT} (<i>PO & 7</i>)" in text
    for raw in ("<script>", "<b onclick", "<i>PO"):
        assert raw not in html
    assert "&lt;script&gt;alert(&#34;co&#34;)&lt;/script&gt; &amp; Søn&#39;s AS" in html
    assert "&lt;b onclick=&#39;x()&#39;&gt;Lager &amp; &#34;drift&#34;&lt;/b&gt;" in html
    assert "&lt;i&gt;PO &amp; 7&lt;/i&gt;" in html
    assert str(invoice.number) in message["Subject"]


async def test_an_invoice_paid_before_its_reminder_gets_none(api, services, smtp, monkeypatch):
    monkeypatch.setattr(services.settings, "invoice_reminder_days_before", 10)
    company, _ = await company_with_people(services)
    invoice = await create_invoice(services, company, gross="300.00", due_date=utcnow().date() + 9 * DAY)
    op = await operator(api)
    body = await api.raw("""mutation($input: RegisterPaymentInput!) { registerPayment(input: $input) {
        __typename } }""", {"input": {"kid": invoice.kid, "amount": "300.00"}}, op.token)
    assert body["data"]["registerPayment"]["__typename"] == "CreditPayload"
    assert await send_invoice_reminders(services, now=utcnow()) == Sent(0, 0)
    assert await send_invoice_reminders(services, now=utcnow() + 20 * DAY) == Sent(0, 0)
    assert await outbox(services) == []
    assert (await invoice_row(services, invoice.id)).reminder_sent_at is None
