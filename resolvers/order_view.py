"""Read models of orders, loaded as plain rows (no ORM identity map) in a fixed number of
statements: one for the orders with buyer, group, end customer and delivery, one for all
their lines, and one for their timelines when asked for."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import CostCentre, DeliveryLocation, DeliverySlot, EndCustomer, Group, Membership, Order, OrderEvent, OrderLine, Product, User
from models.money import LineAmounts, Totals, line_amounts, totals_of
from models.order_state import OrderStatus


@dataclass(slots=True)
class LineView:
    id: int
    product_id: int
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price_minor: int
    vat_rate: int
    net_minor: int
    vat_minor: int
    substitution_allowed: bool
    returned_quantity: int


@dataclass(slots=True)
class EventView:
    id: int
    kind: str
    from_status: str | None
    to_status: str | None
    comment: str
    created_at: datetime
    actor_user_id: int | None
    actor_name: str | None


@dataclass(slots=True)
class OrderView:
    id: int
    company_id: int
    number: str | None
    status: OrderStatus
    currency: str
    reference: str
    po_number: str
    buyer_id: int
    buyer_email: str
    buyer_name: str
    group_id: int
    group_name: str
    end_customer_id: int | None
    end_customer_name: str | None
    end_customer_note: str | None
    location_id: int | None
    location_name: str | None
    delivery_street: str
    delivery_postal_code: str
    delivery_city: str
    slot_id: int | None
    slot_weekday: int | None
    slot_starts_at: time | None
    slot_ends_at: time | None
    delivery_date: date | None
    payment_method: str | None
    cost_centre_id: int | None
    cost_centre_name: str | None
    cost_centre_code: str | None
    warnings: list[str]
    net_minor: int
    vat_minor: int
    credited_minor: int
    created_at: datetime
    submitted_at: datetime | None
    lines: list[LineView] = field(default_factory=list)
    events: list[EventView] | None = None
    totals: Totals | None = None

    @property
    def gross_minor(self) -> int:
        return self.net_minor + self.vat_minor


def _order_columns(o) -> tuple:
    return (
        o.id, o.company_id, o.number, o.status, o.currency, o.reference, o.po_number,
        o.buyer_id, User.email, User.first_name, User.last_name, o.group_id, Group.name.label("group_name"),
        o.end_customer_id, EndCustomer.name.label("end_customer_name"), EndCustomer.note.label("end_customer_note"),
        o.location_id, DeliveryLocation.name.label("location_name"), o.delivery_street, o.delivery_postal_code,
        o.delivery_city, o.delivery_slot_id, DeliverySlot.weekday, DeliverySlot.starts_at, DeliverySlot.ends_at,
        o.delivery_date, o.payment_method, o.cost_centre_id, CostCentre.name.label("cost_centre_name"),
        CostCentre.code, o.warnings, o.net_minor, o.vat_minor, o.credited_minor,
        o.created_at, o.submitted_at,
    )


def order_rows(o=Order) -> Select:
    """Orders (or an alias of a subquery of them) joined to everything a result shows; add WHERE, ORDER BY and LIMIT."""
    return (
        select(*_order_columns(o))
        .select_from(o)
        .join(Membership, Membership.id == o.buyer_id)
        .join(User, User.id == Membership.user_id)
        .join(Group, Group.id == o.group_id)
        .outerjoin(EndCustomer, EndCustomer.id == o.end_customer_id)
        .outerjoin(DeliveryLocation, DeliveryLocation.id == o.location_id)
        .outerjoin(DeliverySlot, DeliverySlot.id == o.delivery_slot_id)
        .outerjoin(CostCentre, CostCentre.id == o.cost_centre_id)
    )


def _view(row) -> OrderView:
    (oid, company_id, number, status, currency, reference, po, buyer_id, email, first, last, group_id, group_name,
     ec_id, ec_name, ec_note, loc_id, loc_name, street, postal, city, slot_id, weekday, starts, ends, ddate, payment,
     cc_id, cc_name, cc_code, warnings, net, vat, credited, created, submitted) = row
    return OrderView(
        oid, company_id, number, OrderStatus(status), currency, reference, po, buyer_id, email, f"{first} {last}".strip(),
        group_id, group_name, ec_id, ec_name, ec_note, loc_id, loc_name, street, postal, city, slot_id, weekday, starts,
        ends, ddate, payment, cc_id, cc_name, cc_code, warnings or [], net, vat, credited, created, submitted,
    )


async def fetch_orders(session: AsyncSession, rows: list, *, with_events: bool = False) -> list[OrderView]:
    """Complete the views of already-selected order rows: lines (and events) in one statement each."""
    views = [_view(row) for row in rows]
    if not views:
        return views
    by_id = {view.id: view for view in views}
    await _attach_lines(session, by_id)
    if with_events:
        await _attach_events(session, by_id)
    for view in views:
        if view.status == OrderStatus.DRAFT:
            view.totals = totals_of((line_amounts(l.unit_price_minor, l.quantity, l.vat_rate), l.vat_rate) for l in view.lines)
            view.net_minor, view.vat_minor = view.totals.net, view.totals.vat
        else:
            view.totals = totals_of(((_snapshot(l)), l.vat_rate) for l in view.lines)
    return views


def _snapshot(line: LineView) -> LineAmounts:
    return LineAmounts(line.net_minor, line.vat_minor)


async def _attach_lines(session: AsyncSession, by_id: dict[int, OrderView]) -> None:
    # Draft lines show the catalogue's current price; submitted ones their snapshot.
    rows = await session.execute(
        select(
            OrderLine.id, OrderLine.order_id, OrderLine.product_id, OrderLine.sku, OrderLine.name, OrderLine.unit,
            OrderLine.quantity, OrderLine.unit_price_minor, OrderLine.vat_rate, OrderLine.net_minor, OrderLine.vat_minor,
            OrderLine.substitution_allowed, OrderLine.returned_quantity, Product.sku, Product.name, Product.unit,
            Product.unit_price_minor, Product.vat_rate,
        )
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id.in_(list(by_id)))
        .order_by(OrderLine.order_id, OrderLine.id)
    )
    for (lid, oid, pid, sku, name, unit, qty, price, rate, net, vat, subst, returned,
         p_sku, p_name, p_unit, p_price, p_rate) in rows:
        order = by_id[oid]
        if order.status == OrderStatus.DRAFT:
            amounts = line_amounts(p_price, qty, p_rate)
            line = LineView(lid, pid, p_sku, p_name, p_unit, qty, p_price, p_rate, amounts.net, amounts.vat, subst, returned)
        else:
            line = LineView(lid, pid, sku, name, unit, qty, price, rate, net, vat, subst, returned)
        order.lines.append(line)


async def _attach_events(session: AsyncSession, by_id: dict[int, OrderView]) -> None:
    rows = await session.execute(
        select(OrderEvent.id, OrderEvent.order_id, OrderEvent.kind, OrderEvent.from_status, OrderEvent.to_status,
               OrderEvent.comment, OrderEvent.created_at, OrderEvent.actor_user_id, User.first_name, User.last_name)
        .outerjoin(User, User.id == OrderEvent.actor_user_id)
        .where(OrderEvent.order_id.in_(list(by_id)))
        .order_by(OrderEvent.order_id, OrderEvent.id)
    )
    events: dict[int, list[EventView]] = defaultdict(list)
    for eid, oid, kind, src, dst, comment, created, actor_id, first, last in rows:
        name = f"{first or ''} {last or ''}".strip() or None
        events[oid].append(EventView(eid, kind, src, dst, comment, created, actor_id, name))
    for oid, view in by_id.items():
        view.events = events.get(oid, [])


async def fetch_order(session: AsyncSession, condition: ColumnElement[bool], *, with_events: bool = True) -> OrderView | None:
    rows = (await session.execute(order_rows().where(condition))).all()
    views = await fetch_orders(session, rows, with_events=with_events)
    return views[0] if views else None
