"""Read models of orders, loaded as plain rows (no ORM identity map) in a fixed number of
statements: one for the orders with buyer, group, end customer and delivery, one for all
their lines, and one for their timelines when asked for.

The statements are built once (they are immutable; callers add WHERE and ORDER BY
generatively, and the lines and events take the order ids as an expanding parameter):
building a select of 36 columns over seven tables costs more than running it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    CostCentre,
    DeliveryLocation,
    DeliverySlot,
    EndCustomer,
    Group,
    Membership,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    User,
)
from models.db import plain_rows
from models.money import LineAmounts, Totals, line_amounts, totals_of
from models.order_state import OrderStatus
from policies.scopes import Scope, company_scope


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
    updated_at: datetime
    lines: list[LineView] = field(default_factory=list)
    events: list[EventView] | None = None
    totals: Totals | None = None

    @property
    def gross_minor(self) -> int:
        return self.net_minor + self.vat_minor


# The columns of `orders` a result shows, and the sort keys of a page.
_ORDER_COLUMN_NAMES = (
    "id", "company_id", "number", "status", "currency", "reference", "po_number", "buyer_id", "group_id",
    "end_customer_id", "location_id", "delivery_street", "delivery_postal_code", "delivery_city", "delivery_slot_id",
    "delivery_date", "payment_method", "cost_centre_id", "warnings", "net_minor", "vat_minor", "credited_minor",
    "created_at", "submitted_at", "gross_minor", "updated_at",
)
PAGE_COLUMNS = tuple(Order.__table__.c[name] for name in _ORDER_COLUMN_NAMES)


def _joined(o) -> Select:
    """`o`: the orders table, or a subquery with its PAGE_COLUMNS (a Core selectable: no ORM adaptation).

    Single-column lookups are scalar subqueries rather than joins: fewer joined relations make
    PostgreSQL's planning of the statement (which it repeats per execution) cheaper than running it."""
    c = o.c
    users, groups, customers = User.__table__, Group.__table__, EndCustomer.__table__
    locations, slots, centres, members = (DeliveryLocation.__table__, DeliverySlot.__table__, CostCentre.__table__,
                                          Membership.__table__)
    return (
        select(
            c.id, c.company_id, c.number, c.status, c.currency, c.reference, c.po_number, c.buyer_id, users.c.email,
            users.c.first_name, users.c.last_name, c.group_id, _lookup(groups.c.name, c.group_id).label("group_name"),
            c.end_customer_id, customers.c.name.label("end_customer_name"), customers.c.note.label("end_customer_note"),
            c.location_id, _lookup(locations.c.name, c.location_id).label("location_name"), c.delivery_street,
            c.delivery_postal_code, c.delivery_city, c.delivery_slot_id, slots.c.weekday, slots.c.starts_at,
            slots.c.ends_at, c.delivery_date, c.payment_method, c.cost_centre_id,
            centres.c.name.label("cost_centre_name"), centres.c.code, c.warnings, c.net_minor, c.vat_minor,
            c.credited_minor, c.created_at, c.submitted_at, c.updated_at,
        )
        .select_from(o)
        .join(members, members.c.id == c.buyer_id)
        .join(users, users.c.id == members.c.user_id)
        .outerjoin(customers, customers.c.id == c.end_customer_id)
        .outerjoin(slots, slots.c.id == c.delivery_slot_id)
        .outerjoin(centres, centres.c.id == c.cost_centre_id)
    )


def _lookup(column, key):
    return select(column).where(column.table.c.id == key).scalar_subquery()


@cache
def order_rows() -> Select:
    """Orders joined to everything a result shows; add WHERE (on Order's columns), ORDER BY and LIMIT."""
    return _joined(Order.__table__)


def page_rows(page: Select, order_by: Callable[[Any], tuple]) -> Select:
    """The orders a page statement selects (its ORDER BY and LIMIT included; its columns PAGE_COLUMNS),
    joined to everything a result shows, ordered by `order_by(page columns)`. The page is picked from
    `orders` alone before anything is joined (with an IN (subquery), PostgreSQL joins the whole table
    first)."""
    o = page.subquery("page")
    return _joined(o).order_by(*order_by(o.c))


def _view(row: Row) -> OrderView:
    (oid, company_id, number, status, currency, reference, po, buyer_id, email, first, last, group_id, group_name,
     ec_id, ec_name, ec_note, loc_id, loc_name, street, postal, city, slot_id, weekday, starts, ends, ddate, payment,
     cc_id, cc_name, cc_code, warnings, net, vat, credited, created, submitted, updated) = row
    return OrderView(
        oid, company_id, number, OrderStatus(status), currency, reference, po, buyer_id, email,
        f"{first} {last}".strip(), group_id, group_name, ec_id, ec_name, ec_note, loc_id, loc_name, street, postal,
        city, slot_id, weekday, starts, ends, ddate, payment, cc_id, cc_name, cc_code, warnings or [], net, vat,
        credited, created, submitted, updated,
    )


async def fetch_orders(session: AsyncSession, rows: Sequence[Row], *, with_events: bool = False) -> list[OrderView]:
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
            view.totals = totals_of((line_amounts(line.unit_price_minor, line.quantity, line.vat_rate), line.vat_rate)
                                    for line in view.lines)
            view.net_minor, view.vat_minor = view.totals.net, view.totals.vat
        else:
            view.totals = totals_of(((_snapshot(line)), line.vat_rate) for line in view.lines)
    return views


def _snapshot(line: LineView) -> LineAmounts:
    return LineAmounts(line.net_minor, line.vat_minor)


@cache
def _lines_of_orders() -> Select:
    return (
        select(
            OrderLine.id, OrderLine.order_id, OrderLine.product_id, OrderLine.sku, OrderLine.name, OrderLine.unit,
            OrderLine.quantity, OrderLine.unit_price_minor, OrderLine.vat_rate, OrderLine.net_minor,
            OrderLine.vat_minor, OrderLine.substitution_allowed, OrderLine.returned_quantity, Product.sku, Product.name,
            Product.unit, Product.unit_price_minor, Product.vat_rate,
        )
        .join(Product, Product.id == OrderLine.product_id)
        .where(OrderLine.order_id.in_(bindparam("order_ids", expanding=True)))
        .order_by(OrderLine.order_id, OrderLine.id)
    )


@cache
def _events_of_orders() -> Select:
    return (
        select(OrderEvent.id, OrderEvent.order_id, OrderEvent.kind, OrderEvent.from_status, OrderEvent.to_status,
               OrderEvent.comment, OrderEvent.created_at, OrderEvent.actor_user_id, User.first_name, User.last_name)
        .outerjoin(User, User.id == OrderEvent.actor_user_id)
        .where(OrderEvent.order_id.in_(bindparam("order_ids", expanding=True)))
        .order_by(OrderEvent.order_id, OrderEvent.id)
    )


async def _attach_lines(session: AsyncSession, by_id: dict[int, OrderView]) -> None:
    # Draft lines show the catalogue's current price; submitted ones their snapshot.
    rows = await plain_rows(session, _lines_of_orders(), {"order_ids": list(by_id)})
    for (lid, oid, pid, sku, name, unit, qty, price, rate, net, vat, subst, returned,
         p_sku, p_name, p_unit, p_price, p_rate) in rows:
        order = by_id[oid]
        if order.status == OrderStatus.DRAFT:
            amounts = line_amounts(p_price, qty, p_rate)
            line = LineView(lid, pid, p_sku, p_name, p_unit, qty, p_price, p_rate, amounts.net, amounts.vat, subst,
                            returned)
        else:
            line = LineView(lid, pid, sku, name, unit, qty, price, rate, net, vat, subst, returned)
        order.lines.append(line)


async def _attach_events(session: AsyncSession, by_id: dict[int, OrderView]) -> None:
    rows = await plain_rows(session, _events_of_orders(), {"order_ids": list(by_id)})
    events: dict[int, list[EventView]] = defaultdict(list)
    for eid, oid, kind, src, dst, comment, created, actor_id, first, last in rows:
        name = f"{first or ''} {last or ''}".strip() or None
        events[oid].append(EventView(eid, kind, src, dst, comment, created, actor_id, name))
    for oid, view in by_id.items():
        view.events = events.get(oid, [])


async def fetch_order(
    session: AsyncSession, order_id: int, scope: Scope, *, with_events: bool = True,
) -> OrderView | None:
    """One order of `scope` (policies.scopes: the orders visible to the caller, or a company's), or None."""
    rows = await plain_rows(session, scope.apply(order_rows()).where(Order.id == order_id))
    views = await fetch_orders(session, rows, with_events=with_events)
    return views[0] if views else None


async def reread_order(session: AsyncSession, order: Order, *, with_events: bool = True) -> OrderView:
    """An order this request holds (read through a scope, or just created), as a view."""
    view = await fetch_order(session, order.id, company_scope(Order, order), with_events=with_events)
    assert view is not None
    return view
