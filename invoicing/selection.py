"""What an invoice run picks up: the companies due on a date, and per company the fulfilled orders and the returns
of invoiced orders not on a document yet, read in batches and locked while they are invoiced."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Row, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Company, EndCustomer, LineReturn, Membership, Order, OrderEvent, OrderLine, User
from models.order_state import OrderEventKind, OrderStatus
from models.user import PaymentMethod
from policies.scopes import company_rows, cross_company
from resolvers.context import Services

BATCH = 500  # companies, orders or returns read at a time: memory stays flat however many there are
WHY = "the invoice run looks at every company whose invoice day it is"


def invoice_day_due(days: Sequence[int], run_date: date) -> bool:
    """Whether a company with these invoice days is invoiced on `run_date`. A day the month does not have (the
    30th in February) falls on the month's last day."""
    last = calendar.monthrange(run_date.year, run_date.month)[1]
    return run_date.day in days or (run_date.day == last and any(day > last for day in days))


def end_of(run_date: date) -> datetime:
    """What happened before this moment (the end of the run date, UTC) belongs to the run of that date."""
    return datetime.combine(run_date + timedelta(days=1), time(0), tzinfo=UTC)


async def due_companies(services: Services, run_date: date, *, all_companies: bool) -> AsyncIterator[list[int]]:
    """Ids of the companies to invoice on `run_date`, in id order, a batch at a time."""
    after = 0
    while True:
        async with services.db.read_sessions() as session:
            rows = (await session.execute(cross_company(
                select(Company.id, Company.invoice_days).where(Company.id > after).order_by(Company.id).limit(BATCH),
                WHY))).all()
        if not rows:
            return
        after = rows[-1].id
        yield [row.id for row in rows if all_companies or invoice_day_due(row.invoice_days or [], run_date)]


def _fulfilled_after(cutoff: datetime):
    """Orders fulfilled after the run date wait for the next run. (An order without a fulfilment event, e.g.
    loaded directly, counts as fulfilled before.)"""
    return exists().where(OrderEvent.order_id == Order.id, OrderEvent.kind == OrderEventKind.FULFIL.value,
                          OrderEvent.created_at >= cutoff)


def _to_invoice(company: Company, cutoff: datetime):
    """Fulfilled orders paid by invoice and on no invoice yet."""
    return company_rows(Order, company).where(
        Order.status == OrderStatus.FULFILLED.value, Order.invoice_id.is_(None),
        Order.payment_method == PaymentMethod.INVOICE.value, ~_fulfilled_after(cutoff))


async def recipients(session: AsyncSession, company: Company, cutoff: datetime) -> list[int | None]:
    """The invoice recipients with something to invoice: cost centre ids, None for the company itself."""
    found = (await session.scalars(_to_invoice(company, cutoff).with_only_columns(Order.cost_centre_id)
                                   .distinct())).all()
    return sorted(found, key=lambda centre: (centre is not None, centre or 0))


@dataclass(frozen=True)
class OrderBatch:
    orders: Sequence[Row]  # id, number, reference, po_number, delivery_date, fulfilled_at, buyer and end customer
    lines: Sequence[OrderLine]


async def orders_of(session: AsyncSession, company: Company, cost_centre_id: int | None,
                    cutoff: datetime) -> AsyncIterator[OrderBatch]:
    """The recipient's orders to invoice with their lines, locked (FOR UPDATE on PostgreSQL: a concurrent run
    waits, then finds them invoiced), in id order, a batch at a time."""
    fulfilled_at = (select(func.max(OrderEvent.created_at))
                    .where(OrderEvent.order_id == Order.id, OrderEvent.kind == OrderEventKind.FULFIL.value)
                    .correlate(Order).scalar_subquery())
    centre = Order.cost_centre_id.is_(None) if cost_centre_id is None else Order.cost_centre_id == cost_centre_id
    after = 0
    while True:
        locked = (await session.scalars(_to_invoice(company, cutoff).with_only_columns(Order.id)
                                        .where(centre, Order.id > after).order_by(Order.id).limit(BATCH)
                                        .with_for_update())).all()
        if not locked:
            return
        after = locked[-1]
        orders = (await session.execute(
            company_rows(Order, company, Order.id, Order.number, Order.reference, Order.po_number,
                         Order.delivery_date, fulfilled_at.label("fulfilled_at"), User.first_name, User.last_name,
                         EndCustomer.name.label("end_customer"))
            .join(Membership, Membership.id == Order.buyer_id).join(User, User.id == Membership.user_id)
            .outerjoin(EndCustomer, EndCustomer.id == Order.end_customer_id)
            .where(Order.id.in_(locked)).order_by(Order.id))).all()
        lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id.in_(locked))
                                       .order_by(OrderLine.order_id, OrderLine.id))).all()
        yield OrderBatch(orders, lines)


async def returns_to_credit(session: AsyncSession, company: Company, cutoff: datetime) -> list[Row]:
    """Returns recorded by the run date on orders already invoiced and not on a credit note yet, locked, grouped
    by the invoice they credit: (LineReturn, OrderLine, invoice id, order number, reference, po number)."""
    return list((await session.execute(
        company_rows(Order, company, LineReturn, OrderLine, Order.invoice_id, Order.number, Order.reference,
                     Order.po_number, Order.delivery_date)
        .join(OrderLine, OrderLine.order_id == Order.id).join(LineReturn, LineReturn.order_line_id == OrderLine.id)
        .where(Order.invoice_id.is_not(None), LineReturn.credit_note_id.is_(None), LineReturn.created_at < cutoff)
        .order_by(Order.invoice_id, LineReturn.id).with_for_update(of=LineReturn))).all())
