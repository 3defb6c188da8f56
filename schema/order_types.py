"""Order types: the order (or cart), its lines, delivery, totals and timeline."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum

import strawberry

from models.money import Totals
from resolvers.approval_view import FlowView
from resolvers.order_view import EventView, LineView, OrderView
from schema.approval_types import ApprovalFlow, flow_from_view
from schema.company import Address
from schema.location import Weekday
from schema.money import Money, VatAmount, money
from schema.relay import Node, to_global_id
from schema.user import PaymentMethod


@strawberry.enum(description="Where an order is in its lifecycle.")
class OrderStatus(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    DRAFT = strawberry.enum_value("draft", description="The cart: not submitted; prices follow the catalogue.")
    SUBMITTED = strawberry.enum_value("submitted", description="Submitted; being decided.")
    PENDING_APPROVAL = strawberry.enum_value("pending_approval", description="Waiting for approvers.")
    APPROVED = strawberry.enum_value("approved", description="Confirmed: final for the buyer; awaiting delivery.")
    FULFILLED = strawberry.enum_value("fulfilled", description="Delivered by the supplier.")
    REJECTED = strawberry.enum_value("rejected", description="Rejected by an approver.")
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled before approval.")


@strawberry.enum(description="What an entry of an order's timeline records.")
class OrderEventKind(Enum):
    SUBMIT = strawberry.enum_value("submit", description="The buyer submitted the cart as an order.")
    REQUIRE_APPROVAL = strawberry.enum_value(
        "require_approval",
        description="Approval rules matched: the order waits for approval (the comment says which).")
    APPROVE = strawberry.enum_value(
        "approve", description="The order was approved: by its last approval tier, or at once when no rule applied.")
    APPROVE_STEP = strawberry.enum_value(
        "approve_step", description="Approval tiers were approved; the order still waits for later tiers.")
    REJECT = strawberry.enum_value("reject", description="An approver rejected the order (the comment is the reason).")
    CANCEL = strawberry.enum_value("cancel", description="The order was cancelled before approval.")
    FULFIL = strawberry.enum_value("fulfil", description="The supplier delivered the order.")
    RETURN = strawberry.enum_value("return", description="Goods were returned and credited (the comment says which).")
    WARNING = strawberry.enum_value(
        "warning", description="The order went through with a warning, such as a budget exceeded with action WARN.")


@strawberry.type(description="One line of an order.")
class OrderLine(Node):
    product_id: strawberry.ID = strawberry.field(description="The catalogue product.")
    sku: str = strawberry.field(description="SKU (as ordered).")
    name: str = strawberry.field(description="Product name (as ordered).")
    unit: str = strawberry.field(description="Sales unit.")
    quantity: int = strawberry.field(description="Quantity ordered.")
    unit_price: Money = strawberry.field(
        description="Price per unit excluding VAT (the catalogue's now for a cart; frozen at submission).")
    vat_rate: int = strawberry.field(description="VAT rate in percent.")
    net: Money = strawberry.field(description="Line amount excluding VAT.")
    vat: Money = strawberry.field(description="VAT of the line, rounded half-up to the minor unit.")
    gross: Money = strawberry.field(description="Line amount including VAT.")
    substitution_allowed: bool = strawberry.field(description="Whether the item may be replaced if out of stock.")
    returned_quantity: int = strawberry.field(description="Quantity returned after delivery.")


@strawberry.type(description="Who placed an order, as recorded on it (the User itself is `userId`).")
class OrderBuyer:
    user_id: strawberry.ID = strawberry.field(description="The buyer: global id of the User.")
    name: str = strawberry.field(description="Full name.")
    email: str = strawberry.field(description="Email address.")


@strawberry.type(description="A group, as recorded on an order.")
class OrderGroup:
    group_id: strawberry.ID = strawberry.field(description="Global id of the Group.")
    name: str = strawberry.field(description="Name.")


@strawberry.type(description="The end customer an order was placed for.")
class OrderEndCustomer:
    end_customer_id: strawberry.ID = strawberry.field(description="Global id of the EndCustomer.")
    name: str = strawberry.field(description="Name.")
    note: str = strawberry.field(description="Note that follows the order, e.g. \"lactose intolerant\".")


@strawberry.type(description="A delivery window chosen for an order.")
class ChosenSlot:
    slot_id: strawberry.ID = strawberry.field(description="Global id of the unit's DeliverySlot.")
    weekday: Weekday = strawberry.field(description="Day of the week.")
    starts_at: time = strawberry.field(description="Start of the window.")
    ends_at: time = strawberry.field(description="End of the window.")


@strawberry.type(description="Where and when an order is delivered.")
class Delivery:
    location_id: strawberry.ID | None = strawberry.field(description="The end customer's unit, when ordering for one.")
    location_name: str | None = strawberry.field(description="Name of that unit.")
    address: Address | None = strawberry.field(
        description="Delivery address: the unit's, or the company's; set at submission, not by the buyer.")
    slot: ChosenSlot | None = strawberry.field(description="The chosen delivery window.")
    date: date | None = strawberry.field(description="The chosen delivery date.")


@strawberry.type(description="An order's amounts.")
class OrderTotals:
    net: Money = strawberry.field(description="Total excluding VAT.")
    vat: Money = strawberry.field(description="Total VAT.")
    gross: Money = strawberry.field(description="Total including VAT.")
    vat_breakdown: list[VatAmount] = strawberry.field(description="Net and VAT per rate, highest rate first.")
    credited: Money = strawberry.field(description="Credited for returns.")


@strawberry.type(description="One entry of an order's append-only timeline.")
class OrderEvent:
    kind: OrderEventKind = strawberry.field(description="What happened.")
    from_status: OrderStatus | None = strawberry.field(description="Status before, for a status change.")
    to_status: OrderStatus | None = strawberry.field(description="Status after, for a status change.")
    comment: str = strawberry.field(description="Comment or reason given.")
    at: datetime = strawberry.field(description="When (UTC).")
    actor_name: str | None = strawberry.field(description="Who did it; null for the platform itself.")


@strawberry.type(description="A cost centre, as recorded on an order.")
class OrderCostCentre:
    cost_centre_id: strawberry.ID = strawberry.field(description="Global id of the CostCentre.")
    name: str = strawberry.field(description="Name.")
    code: str = strawberry.field(description="Code.")


@strawberry.type(description="An order, or the cart (an order in DRAFT).")
class Order(Node):
    number: str | None = strawberry.field(
        description="Human-readable number per company, e.g. PO-2026-000123; null for a cart.")
    status: OrderStatus = strawberry.field(description="Lifecycle status.")
    buyer: OrderBuyer = strawberry.field(description="Who placed it.")
    group: OrderGroup = strawberry.field(description="The buyer's group when it was submitted.")
    end_customer: OrderEndCustomer | None = strawberry.field(description="The end customer it is for, if any.")
    lines: list[OrderLine] = strawberry.field(description="The lines.")
    totals: OrderTotals = strawberry.field(description="Amounts, computed exactly.")
    reference: str = strawberry.field(description="Free-text reference, e.g. for re-invoicing.")
    po_number: str = strawberry.field(description="The buyer's purchase-order number.")
    delivery: Delivery = strawberry.field(description="Delivery address, slot and date.")
    payment_method: PaymentMethod | None = strawberry.field(
        description="How it is paid (for end customers: the company's setting).")
    created_at: datetime = strawberry.field(description="When the cart was started (UTC).")
    submitted_at: datetime | None = strawberry.field(description="When it was submitted (UTC).")
    updated_at: datetime = strawberry.field(description=(
        "When it last changed (UTC): a cart edit, or any entry of its timeline (submission, approval, rejection, "
        "cancellation, fulfilment, a return). To follow changes without missing any, use `orderChanges`."))
    timeline: list[OrderEvent] = strawberry.field(
        description="Every change, oldest first (who, what, when, from, to, comment).")
    cost_centre: OrderCostCentre | None = strawberry.field(
        description="The cost centre (invoice recipient) it is booked to.")
    warnings: list[str] = strawberry.field(
        description="Warnings recorded at submission, e.g. a budget exceeded with action WARN.")
    approval_flow: ApprovalFlow | None = strawberry.field(
        description="Rules, tiers, who approved, who is pending, and what the caller may do now.")


def order_line_from_view(line: LineView, currency: str) -> OrderLine:
    return OrderLine(
        id=to_global_id("OrderLine", line.id), product_id=to_global_id("Product", line.product_id), sku=line.sku,
        name=line.name, unit=line.unit, quantity=line.quantity, unit_price=money(line.unit_price_minor, currency),
        vat_rate=line.vat_rate, net=money(line.net_minor, currency), vat=money(line.vat_minor, currency),
        gross=money(line.net_minor + line.vat_minor, currency), substitution_allowed=line.substitution_allowed,
        returned_quantity=line.returned_quantity,
    )


def _event(event: EventView) -> OrderEvent:
    return OrderEvent(
        kind=OrderEventKind(event.kind), from_status=OrderStatus(event.from_status) if event.from_status else None,
        to_status=OrderStatus(event.to_status) if event.to_status else None, comment=event.comment,
        at=event.created_at, actor_name=event.actor_name,
    )


def _delivery(v: OrderView) -> Delivery:
    slot = None
    if v.slot_id is not None:
        # A chosen slot's times are never null (the columns are NOT NULL); checking here would cost every order.
        slot = ChosenSlot(slot_id=to_global_id("DeliverySlot", v.slot_id), weekday=Weekday(v.slot_weekday),
                          starts_at=v.slot_starts_at, ends_at=v.slot_ends_at)  # type: ignore[arg-type]
    address = (Address(street=v.delivery_street, postal_code=v.delivery_postal_code, city=v.delivery_city)
               if v.delivery_street else None)
    return Delivery(location_id=to_global_id("DeliveryLocation", v.location_id) if v.location_id else None,
                    location_name=v.location_name, address=address, slot=slot, date=v.delivery_date)


def order_from_view(v: OrderView, flow: FlowView | None = None) -> Order:
    c = v.currency
    # fetch_orders, which makes every view, sets its totals; checking here would cost every order.
    amounts: Totals = v.totals  # type: ignore[assignment]
    totals = OrderTotals(
        net=money(amounts.net, c), vat=money(amounts.vat, c), gross=money(amounts.gross, c),
        vat_breakdown=[VatAmount(rate=rate, net=money(net, c), vat=money(vat, c))
                       for rate, (net, vat) in amounts.vat_by_rate.items()],
        credited=money(v.credited_minor, c),
    )
    # The names and codes joined to an id are never null when the id is set (NOT NULL columns); checking
    # that here would cost every order.
    end_customer = None
    if v.end_customer_id is not None:
        end_customer = OrderEndCustomer(end_customer_id=to_global_id("EndCustomer", v.end_customer_id),
                                        name=v.end_customer_name,  # type: ignore[arg-type]
                                        note=v.end_customer_note or "")
    cost_centre = None
    if v.cost_centre_id:
        cost_centre = OrderCostCentre(cost_centre_id=to_global_id("CostCentre", v.cost_centre_id),
                                      name=v.cost_centre_name, code=v.cost_centre_code)  # type: ignore[arg-type]
    return Order(
        id=to_global_id("Order", v.id), number=v.number, status=OrderStatus(v.status.value),
        buyer=OrderBuyer(user_id=to_global_id("User", v.buyer_id), name=v.buyer_name, email=v.buyer_email),
        group=OrderGroup(group_id=to_global_id("Group", v.group_id), name=v.group_name), end_customer=end_customer,
        lines=[order_line_from_view(line, c) for line in v.lines], totals=totals, reference=v.reference,
        po_number=v.po_number,
        delivery=_delivery(v), payment_method=PaymentMethod(v.payment_method) if v.payment_method else None,
        created_at=v.created_at, submitted_at=v.submitted_at, updated_at=v.updated_at,
        timeline=[_event(e) for e in v.events or []],
        cost_centre=cost_centre, warnings=v.warnings, approval_flow=flow_from_view(flow) if flow else None,
    )
