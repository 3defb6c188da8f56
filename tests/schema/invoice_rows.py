"""Invoices, credit notes, payments, orders and returns written straight to the database, for the tests of
what the API reads (the archive, `node`, transactions): no invoice run needed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from models import Invoice, InvoiceLine, LineReturn, Order, OrderLine, Payment, Product
from models.invoice import InvoiceKind, document_totals
from models.order_state import OrderStatus

_numbers = itertools.count(10_001)
_skus = itertools.count(1)


@dataclass
class LineSpec:
    net_minor: int
    vat_rate: int = 25
    quantity: int = 1
    order_id: int | None = None


async def create_invoice(
    services, company_id: int, *, issued: date, due: date | None = None, lines: list[LineSpec] | None = None,
    kind: InvoiceKind = InvoiceKind.INVOICE, paid_minor: int = 0, credited_minor: int = 0,
    credited_invoice_id: int | None = None, cost_centre_id: int | None = None, kid: str | None = None,
    recipient_reference: str = "", currency: str = "NOK",
) -> int:
    """An issued invoice (or credit note) with its lines; its totals come from the lines."""
    lines = lines if lines is not None else [LineSpec(100_00)]
    totals = document_totals((spec.net_minor, spec.vat_rate) for spec in lines)
    number = next(_numbers)
    async with services.db.transaction() as session:
        invoice = Invoice(
            kind=kind.value, number=number, company_id=company_id, cost_centre_id=cost_centre_id,
            credited_invoice_id=credited_invoice_id, issue_date=issued, due_date=due or issued + timedelta(days=32),
            currency=currency, net_minor=totals.net_minor, vat_minor=totals.vat_minor,
            gross_minor=totals.gross_minor, previous_balance_minor=0, payments_minor=0,
            balance_due_minor=totals.gross_minor, paid_minor=paid_minor, credited_minor=credited_minor,
            kid=kid if kid is not None else (f"{number:08d}" if kind is InvoiceKind.INVOICE else None),
            recipient_name="Recipient AS", recipient_reference=recipient_reference, recipient_street="Gate 2",
            recipient_postal_code="0150", recipient_city="Oslo", ehf_xml=b"<Invoice/>")
        session.add(invoice)
        await session.flush()
        for n, spec in enumerate(lines):
            session.add(InvoiceLine(
                invoice_id=invoice.id, order_id=spec.order_id, sku=f"SKU-{n}", name=f"Item {n}", unit="pcs",
                quantity=spec.quantity, unit_price_minor=spec.net_minor // spec.quantity, vat_rate=spec.vat_rate,
                net_minor=spec.net_minor, order_number=f"PO-{n}", order_reference=f"ref {n}", po_number=f"P{n}",
                buyer_name="Test Buyer", end_customer_name="", delivered_on=issued - timedelta(days=1)))
        await session.flush()
        return invoice.id


async def create_payment(services, company_id: int, *, received: date, amount_minor: int,
                         invoice_id: int | None = None, kid: str | None = None) -> int:
    async with services.db.transaction() as session:
        payment = Payment(company_id=company_id, invoice_id=invoice_id, amount_minor=amount_minor, currency="NOK",
                          kid=kid, received_on=received)
        session.add(payment)
        await session.flush()
        return payment.id


async def create_order(
    services, company_id: int, group_id: int, buyer_id: int, *, submitted: datetime, gross_minor: int,
    status: OrderStatus = OrderStatus.FULFILLED, reference: str = "",
) -> int:
    """An order as submission leaves it, with one line (whose id is the order's id + a product's)."""
    n = next(_skus)
    async with services.db.transaction() as session:
        product = Product(sku=f"T-{n}", name=f"Thing {n}", unit="pcs", unit_price_minor=gross_minor,
                          vat_rate=25, category="Test", currency="NOK")
        session.add(product)
        await session.flush()
        order = Order(company_id=company_id, buyer_id=buyer_id, group_id=group_id, status=status.value,
                      number=f"PO-T-{n:06d}", currency="NOK", reference=reference, net_minor=gross_minor,
                      gross_minor=gross_minor, submitted_at=submitted.astimezone(UTC))
        session.add(order)
        await session.flush()
        session.add(OrderLine(order_id=order.id, product_id=product.id, quantity=1, sku=product.sku, name="Thing",
                              unit="pcs", unit_price_minor=gross_minor, vat_rate=0, net_minor=gross_minor))
        await session.flush()
        return order.id


async def create_return(services, order_id: int, *, at: datetime, credited_minor: int) -> int:
    async with services.db.transaction() as session:
        line_id = await session.scalar(select(OrderLine.id).where(OrderLine.order_id == order_id))
        returned = LineReturn(order_line_id=line_id, quantity=1, credited_minor=credited_minor, created_at=at)
        session.add(returned)
        await session.flush()
        return returned.id
