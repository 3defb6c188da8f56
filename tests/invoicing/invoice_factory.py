"""Issued invoices and credit notes written straight to the database, for tests of what happens to an invoice
after the run (payments, reminders, events, downloads, the archive), and readers of what they became.

    invoice = await create_invoice(services, company_id, gross="1250.00", due_date=date(2026, 12, 17))
    invoice.kid, invoice.number, invoice.id   # a valid KID made from the number, unless given

The amounts are decimal strings (or minor units as int); VAT is 25 % of the net unless given. By default the
invoiced amount is also added to the company's outstanding credit (what the orders behind it did), so that
registerPayment may pay it; `on_account=False` leaves the credit account alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from stdnum import luhn

from models import Company, CreditAccount, Invoice, Payment
from models.base import utcnow
from models.invoice import InvoiceKind
from policies.scopes import company_rows, company_update, cross_company

_numbers = itertools.count(100_001)


def kid_of(number: int) -> str:
    """A KID for an invoice number: the number padded to 9 digits and its MOD10 (Luhn) check digit."""
    digits = f"{number:09d}"
    return digits + luhn.calc_check_digit(digits)


def minor(amount: str | int | Decimal) -> int:
    return amount if isinstance(amount, int) else int((Decimal(amount) * 100).to_integral_value())


@dataclass(frozen=True)
class MadeInvoice:
    id: int
    number: int
    kid: str | None
    company_id: int
    gross_minor: int
    issue_date: date
    due_date: date


async def add_outstanding(services, company_id: int, amount_minor: int) -> None:
    """Raise the company's outstanding credit by `amount_minor` (creating its credit account if need be)."""
    async with services.db.transaction() as session:
        company = await session.get_one(Company, company_id)
        insert = postgresql.insert if services.db.dialect == "postgresql" else sqlite.insert
        await session.execute(insert(CreditAccount).values(
            company_id=company_id, credit_limit_minor=services.settings.default_credit_limit, outstanding_minor=0,
            updated_at=utcnow()).on_conflict_do_nothing(index_elements=["company_id"]))
        await session.execute(company_update(CreditAccount, company).values(
            outstanding_minor=CreditAccount.outstanding_minor + amount_minor))


async def create_invoice(
    services, company_id: int, *, gross: str | int = "1250.00", net: str | int | None = None,
    vat: str | int | None = None, paid: str | int = 0, credited: str | int = 0, kid: str | None = "",
    number: int | None = None, issue_date: date | None = None, due_date: date | None = None,
    currency: str = "NOK", kind: InvoiceKind = InvoiceKind.INVOICE, cost_centre_id: int | None = None,
    recipient_name: str | None = None, recipient_reference: str = "", credited_invoice_id: int | None = None,
    ehf_xml: bytes = b"<Invoice/>", on_account: bool = True,
) -> MadeInvoice:
    """An issued invoice (or credit note) of the company. `kid=""` (the default) makes one from the number for an
    invoice (a credit note has none); None: no KID. Dates default to issued today, due in 32 days."""
    gross_minor = minor(gross)
    net_minor = minor(net) if net is not None else round(gross_minor / Decimal("1.25"))
    vat_minor = minor(vat) if vat is not None else gross_minor - net_minor
    number = number if number is not None else next(_numbers)
    if kid == "":
        kid = kid_of(number) if kind == InvoiceKind.INVOICE else None
    issue_date = issue_date or utcnow().date()
    async with services.db.transaction() as session:
        company = await session.get_one(Company, company_id)
        invoice = Invoice(
            kind=kind.value, number=number, company_id=company_id, cost_centre_id=cost_centre_id,
            credited_invoice_id=credited_invoice_id, issue_date=issue_date,
            due_date=due_date or issue_date + timedelta(days=32), currency=currency, net_minor=net_minor,
            vat_minor=vat_minor, gross_minor=gross_minor, previous_balance_minor=0, payments_minor=0,
            balance_due_minor=gross_minor, paid_minor=minor(paid), credited_minor=minor(credited), kid=kid,
            recipient_name=recipient_name if recipient_name is not None else company.name,
            recipient_reference=recipient_reference, recipient_street=company.street,
            recipient_postal_code=company.postal_code, recipient_city=company.city, ehf_xml=ehf_xml)
        session.add(invoice)
        await session.flush()
        made = MadeInvoice(invoice.id, number, kid, company_id, gross_minor, invoice.issue_date, invoice.due_date)
    if on_account and kind == InvoiceKind.INVOICE:
        await add_outstanding(services, company_id, gross_minor - minor(paid) - minor(credited))
    return made


async def invoice_row(services, invoice_id: int) -> Invoice:
    """The invoice as stored now."""
    async with services.db.read_sessions() as session:
        company_id = await session.scalar(cross_company(
            select(Invoice.company_id).where(Invoice.id == invoice_id), "a test reads any invoice"))
        company = await session.get_one(Company, company_id)
        return (await session.scalars(company_rows(Invoice, company).where(Invoice.id == invoice_id))).one()


async def payments_of(services, company_id: int) -> list[Payment]:
    """The company's payments, in the order they were registered."""
    async with services.db.read_sessions() as session:
        company = await session.get_one(Company, company_id)
        return list((await session.scalars(company_rows(Payment, company).order_by(Payment.id))).all())


async def outstanding_of(services, company_id: int) -> int | None:
    async with services.db.read_sessions() as session:
        company = await session.get_one(Company, company_id)
        return await session.scalar(company_rows(CreditAccount, company, CreditAccount.outstanding_minor))
