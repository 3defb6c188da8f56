"""Demo invoices: three orders delivered in the past and invoiced by the real invoice run on past invoice days, so
the demo company has an invoice that was paid, one that is overdue, and one with a credit note for a return.

The orders are placed, fulfilled and returned through the use cases, then dated back to when they would have
happened; everything after that (invoices, EHF documents, KID, due dates, payments, statements) is what the
invoice run and registerPayment produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, update

from invoicing.due_dates import due_date
from invoicing.run import run_invoicing
from models import Company, CostCentre, Invoice, LineReturn, Order, OrderEvent, OrderLine, Product
from models.base import utcnow
from models.company import payment_terms_days
from models.user import PaymentMethod, Role
from policies.actor import Actor
from policies.scopes import company_rows, cross_company
from resolvers import cart, order
from resolvers.context import Services, UseCaseContext
from resolvers.order_submit import submit_order
from resolvers.payment import register_payment

WHY = "demo data: dating back the demo company's own orders"


@dataclass(frozen=True)
class DemoInvoiceDays:
    paid: date  # invoice A, paid in full ten days later
    overdue: date  # invoices B (unpaid, now overdue) and C (later partly returned)
    credit: date  # the credit note for the return on C


def demo_invoice_days(company: Company, today: date) -> DemoInvoiceDays:
    """Three of the company's past invoice days: the latest before today for the credit note, and the latest
    whose invoices are overdue today for B and C, and the one before it for A."""
    days: list[date] = []
    day = today - timedelta(days=1)
    while len(days) < 12:
        if day.day in company.invoice_days:
            days.append(day)
        day -= timedelta(days=1)
    terms = payment_terms_days(company)
    overdue = next(d for d in days[1:] if due_date(d, terms, company.country) < today)
    return DemoInvoiceDays(paid=days[days.index(overdue) + 1], overdue=overdue, credit=days[0])


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def load_demo_invoices(services: Services, company_id: int, members: dict[Role, Actor],
                             operator: Actor) -> None:
    if services.settings.missing_supplier_details():
        return  # no seller to invoice from (production settings without the supplier's details)
    async with services.db.transaction() as session:
        company = await session.get_one(Company, company_id)
        days = demo_invoice_days(company, utcnow().date())
    paid = await _delivered_order(services, members[Role.CUSTOMER], operator, "Dairy", "Kitchen, week 1", "CARE",
                                  _at(days.paid - timedelta(days=4), 9))
    overdue = await _delivered_order(services, members[Role.CUSTOMER], operator, "Fruit and vegetables",
                                     "Fruit for the day centre", "CARE", _at(days.overdue - timedelta(days=3), 10))
    returned = await _delivered_order(services, members[Role.MANAGER], operator, "Cleaning",
                                      "Cleaning, head office", "MAIN", _at(days.overdue - timedelta(days=2), 11))
    await run_invoicing(services, days.paid)
    await _pay_in_full(services, operator, paid, days.paid + timedelta(days=10))
    await run_invoicing(services, days.overdue)
    await _return_one(services, operator, returned, _at(days.overdue + timedelta(days=5), 13))
    await run_invoicing(services, days.credit)
    del overdue  # left unpaid: overdue since its due date


async def _delivered_order(services: Services, buyer: Actor, operator: Actor, category: str, reference: str,
                           cost_centre_code: str, delivered_at: datetime) -> int:
    async with services.db.transaction() as session:
        as_buyer = UseCaseContext(services=services, session=session, actor=buyer)
        skus = (await session.scalars(select(Product.sku).where(Product.category == category)
                                      .order_by(Product.id).limit(3))).all()
        for index, sku in enumerate(skus):
            await cart.add_to_cart(as_buyer, product_id=None, sku=sku, quantity=1 + index,
                                   substitution_allowed=True)
        centre = await _cost_centre_id(session, buyer.company_id, cost_centre_code)
        await cart.update_cart(as_buyer, reference=reference, po_number=f"PO-{delivered_at:%y%m%d}",
                               payment_method=PaymentMethod.INVOICE, cost_centre_id=centre)
        placed = await submit_order(as_buyer, idempotency_key=f"demo-invoiced-{reference}")
        await order.fulfil_order(UseCaseContext(services=services, session=session, actor=operator),
                                 order_id=placed.id, comment="Delivered")
        submitted = delivered_at - timedelta(days=2)
        await session.execute(cross_company(
            update(Order).where(Order.id == placed.id)
            .values(created_at=submitted, submitted_at=submitted, updated_at=delivered_at), WHY))
        for delivered, at in ((False, submitted), (True, delivered_at)):
            await session.execute(cross_company(
                update(OrderEvent).where(OrderEvent.order_id == placed.id, (OrderEvent.kind == "fulfil") == delivered)
                .values(created_at=at), WHY))
        return placed.id


async def _cost_centre_id(session, company_id: int | None, code: str) -> int:
    company = await session.get_one(Company, company_id)
    return (await session.scalars(company_rows(CostCentre, company).where(CostCentre.code == code))).one().id


async def _pay_in_full(services: Services, operator: Actor, order_id: int, received_on: date) -> None:
    async with services.db.transaction() as session:
        invoice = (await session.scalars(cross_company(
            select(Invoice).join(Order, Order.invoice_id == Invoice.id).where(Order.id == order_id), WHY))).one()
        await register_payment(UseCaseContext(services=services, session=session, actor=operator),
                               company_id=None, amount_minor=invoice.gross_minor, kid=invoice.kid,
                               received_on=received_on)


async def _return_one(services: Services, operator: Actor, order_id: int, returned_at: datetime) -> None:
    async with services.db.transaction() as session:
        line_id = (await session.scalars(cross_company(
            select(OrderLine.id).where(OrderLine.order_id == order_id, OrderLine.quantity > 1)
            .order_by(OrderLine.id).limit(1), WHY))).one()
        await order.record_return(UseCaseContext(services=services, session=session, actor=operator),
                                  order_id=order_id, line_id=line_id, quantity=1, reason="Damaged in transport")
        await session.execute(cross_company(
            update(LineReturn).where(LineReturn.order_line_id == line_id).values(created_at=returned_at), WHY))
        await session.execute(cross_company(
            update(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.kind == "return")
            .values(created_at=returned_at), WHY))
