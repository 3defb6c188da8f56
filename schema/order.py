"""Cart and orders: queries and mutations."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.money import parse_amount
from models.order_state import OrderStatus as DomainStatus
from models.user import PaymentMethod as DomainPaymentMethod
from resolvers import approval_view, order_history
from resolvers import cart as cart_use_cases
from resolvers import order as order_use_cases
from resolvers.order_submit import submit_order
from schema.errors import INPUT, MutationError, only, run_mutation
from schema.order_types import Order, OrderStatus, order_from_view
from schema.relay import Connection, Edge, connection_of, decode_id, from_keyset_cursor, optional_id, to_keyset_cursor
from schema.selection import selects
from schema.user import PaymentMethod


@strawberry.enum(description="Order of the order history.")
class OrderSort(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    SUBMITTED_AT_DESC = strawberry.enum_value("submitted_at_desc", description="Newest first (default).")
    SUBMITTED_AT_ASC = strawberry.enum_value("submitted_at_asc", description="Oldest first.")
    TOTAL_DESC = strawberry.enum_value("total_desc", description="Largest gross total first.")
    TOTAL_ASC = strawberry.enum_value("total_asc", description="Smallest gross total first.")
    UPDATED_AT_DESC = strawberry.enum_value("updated_at_desc", description="Most recently changed first.")
    UPDATED_AT_ASC = strawberry.enum_value("updated_at_asc", description="Least recently changed first.")


@strawberry.input(description="Which orders to list; all given conditions must hold.")
class OrderFilter:
    statuses: list[OrderStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    submitted_from: datetime | None = strawberry.field(default=None, description="Submitted at or after (inclusive).")
    submitted_to: datetime | None = strawberry.field(default=None, description="Submitted before (exclusive).")
    updated_from: datetime | None = strawberry.field(
        default=None, description="Last changed (`updatedAt`) at or after (inclusive).")
    updated_to: datetime | None = strawberry.field(
        default=None, description="Last changed (`updatedAt`) before (exclusive).")
    buyer_id: strawberry.ID | None = strawberry.field(default=None, description="Placed by this user.")
    group_id: strawberry.ID | None = strawberry.field(default=None, description="Placed in this group.")
    end_customer_id: strawberry.ID | None = strawberry.field(default=None, description="For this end customer.")
    reference: str | None = strawberry.field(default=None, description="Reference contains this text.")
    po_number: str | None = strawberry.field(default=None, description="Purchase-order number equals this.")
    min_total: str | None = strawberry.field(default=None, description="Gross total at least this decimal amount.")
    max_total: str | None = strawberry.field(default=None, description="Gross total at most this decimal amount.")
    search: str | None = strawberry.field(default=None, description="Text in the order number or the reference.")

    def to_domain(self) -> order_history.OrderFilter:
        return order_history.OrderFilter(
            statuses=[DomainStatus(s.value) for s in self.statuses or []], submitted_from=self.submitted_from,
            submitted_to=self.submitted_to, updated_from=self.updated_from, updated_to=self.updated_to,
            buyer_id=optional_id(self.buyer_id, "User"),
            group_id=optional_id(self.group_id, "Group"),
            end_customer_id=optional_id(self.end_customer_id, "EndCustomer"),
            reference=self.reference, po_number=self.po_number,
            min_total_minor=parse_amount(self.min_total, "filter.minTotal") if self.min_total is not None else None,
            max_total_minor=parse_amount(self.max_total, "filter.maxTotal") if self.max_total is not None else None,
            search=self.search,
        )


@strawberry.input(description="A product to add to the cart, by id or by SKU.")
class AddToCartInput:
    product_id: strawberry.ID | None = strawberry.field(default=None, description="The product (or give `sku`).")
    sku: str | None = strawberry.field(default=None, description="The product's SKU (or give `productId`).")
    quantity: int = strawberry.field(default=1, description="How many to add (1 to 100000).")
    substitution_allowed: bool | None = strawberry.field(
        default=None, description="May it be replaced if out of stock (default yes).")


@strawberry.input(description="A new quantity for a cart line; 0 removes it.")
class UpdateCartLineInput:
    product_id: strawberry.ID = strawberry.field(description="The product of the line.")
    quantity: int = strawberry.field(description="New quantity; 0 removes the line.")


@strawberry.input(description="Substitution choice for one line, or for all lines when `productId` is omitted.")
class SetSubstitutionInput:
    product_id: strawberry.ID | None = strawberry.field(
        default=None, description="The line's product; omit for all lines.")
    allowed: bool = strawberry.field(description="Whether out-of-stock items may be replaced.")


@strawberry.input(description="Cart details; omitted fields stay as they are, `null` clears them.")
class UpdateCartInput:
    reference: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free-text reference (re-invoicing).")
    po_number: str | None = strawberry.field(default=strawberry.UNSET, description="Purchase-order number.")
    end_customer_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Order on behalf of this end customer; null to stop.")
    delivery_slot_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One of the end customer's unit's slots.")
    delivery_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="Delivery date, on the slot's weekday.")
    payment_method: PaymentMethod | None = strawberry.field(
        default=strawberry.UNSET, description="One of your approved methods (not for end customers).")
    cost_centre_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One of your cost centres; null for your default.")


@strawberry.input(description="Submit the cart.")
class SubmitOrderInput:
    idempotency_key: str = strawberry.field(
        description="Unique per attempt (8-100 characters); retries with it return the same order.")


@strawberry.input(description="Cancel an order before approval.")
class CancelOrderInput:
    id: strawberry.ID = strawberry.field(description="The order.")
    reason: str = strawberry.field(default="", description="Why; recorded in the timeline.")


@strawberry.input(description="Mark an order delivered.")
class FulfilOrderInput:
    id: strawberry.ID = strawberry.field(description="The order.")
    comment: str = strawberry.field(default="", description="Note for the timeline.")


@strawberry.input(description="Goods of one line returned after delivery.")
class RecordReturnInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    line_id: strawberry.ID = strawberry.field(description="The line.")
    quantity: int = strawberry.field(description="How many were returned.")
    reason: str = strawberry.field(default="", description="Why.")


@strawberry.type(description="The order (or cart) after the change.")
class OrderPayload:
    order: Order = strawberry.field(description="The order or cart.")


OrderResult = Annotated[
    OrderPayload | MutationError, strawberry.union("OrderResult", description="Result of a cart or order change.")
]


def _payload(result) -> OrderPayload:
    view, flow = result
    return OrderPayload(order=order_from_view(view, flow))


def with_flow(use_case):
    """Run an order use case and load the order's approval flow in the same transaction."""
    async def run(ctx):
        view = await use_case(ctx)
        if view.status is DomainStatus.DRAFT:
            return view, None  # a cart has no approval flow: spare the statement
        return view, (await approval_view.flows(ctx, [view]))[view.id]
    return run


def _unset_to_keep(value, convert=lambda v: v):
    if value is strawberry.UNSET:
        return cart_use_cases.KEEP
    return None if value is None else convert(value)


def _product_id(value: str | None) -> int | None:
    return optional_id(value, "Product")


@strawberry.type
class OrderQuery:
    @strawberry.field(description="Your cart, or null before you add anything. Requires `order:create`.")
    async def cart(self, info: strawberry.Info) -> Order | None:
        async with info.context.reading() as ctx:
            view = await cart_use_cases.view_cart(ctx)
        return order_from_view(view) if view else None

    @strawberry.field(description=(
        "Order history: customers see their own orders, managers and administrators the company's, order approvers "
        "those they may decide, operators all. Requires sign-in."))
    async def orders(
        self, info: strawberry.Info,
        filter: Annotated[OrderFilter | None, strawberry.argument(description="Conditions.")] = None,
        order_by: Annotated[OrderSort, strawberry.argument(description="Sort order.")] = OrderSort.SUBMITTED_AT_DESC,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[Order]:
        async with info.context.reading() as ctx:
            sort = order_history.OrderSort(order_by.value)
            page = await order_history.list_orders(
                ctx, filter=(filter or OrderFilter()).to_domain(), sort=sort, first=first,
                after=from_keyset_cursor(after), with_events=selects(info, "timeline"),
            )
            flows = await approval_view.flows(ctx, page.orders) if selects(info, "approvalFlow") else {}
        edges = [Edge(cursor=to_keyset_cursor(order_history.sort_value(v, sort), v.id),
                      node=order_from_view(v, flows.get(v.id)))
                 for v in page.orders]
        return connection_of(edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page)

    @strawberry.field(description="One order you may see, with its timeline, or null. Requires sign-in.")
    async def order(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Global id.")],
    ) -> Order | None:
        async with info.context.reading() as ctx:
            view = await order_use_cases.get_order(ctx, decode_id(id, "Order") or 0)
            flow = (await approval_view.flows(ctx, [view]))[view.id] if view and selects(info, "approvalFlow") else None
        return order_from_view(view, flow) if view else None


@strawberry.type
class OrderMutation:
    @strawberry.mutation(description="Add a product to your cart (opens one if needed). Requires `order:create`.")
    async def add_to_cart(self, info: strawberry.Info, input: Annotated[AddToCartInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: cart_use_cases.add_to_cart(
            ctx, product_id=_product_id(input.product_id), sku=input.sku, quantity=input.quantity,
            substitution_allowed=input.substitution_allowed)), _payload)

    @strawberry.mutation(description="Change a cart line's quantity; 0 removes it. Requires `order:create`.")
    async def update_cart_line(
        self, info: strawberry.Info, input: Annotated[UpdateCartLineInput, INPUT],
    ) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: cart_use_cases.set_line_quantity(
            ctx, product_id=decode_id(input.product_id, "Product") or 0, quantity=input.quantity)), _payload)

    @strawberry.mutation(description="Allow or forbid substitution for one line or all lines. Requires `order:create`.")
    async def set_substitution(
        self, info: strawberry.Info, input: Annotated[SetSubstitutionInput, INPUT],
    ) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: cart_use_cases.set_substitution(
            ctx, product_id=_product_id(input.product_id), allowed=input.allowed)), _payload)

    @strawberry.mutation(description=(
        "Set the cart's reference, PO number, end customer, delivery slot and date, payment method. "
        "Requires `order:create`."))
    async def update_cart(self, info: strawberry.Info, input: Annotated[UpdateCartInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: cart_use_cases.update_cart(
            ctx, reference=_unset_to_keep(input.reference), po_number=_unset_to_keep(input.po_number),
            end_customer_id=_unset_to_keep(input.end_customer_id, lambda v: decode_id(v, "EndCustomer") or 0),
            delivery_slot_id=_unset_to_keep(input.delivery_slot_id, lambda v: decode_id(v, "DeliverySlot") or 0),
            delivery_date=_unset_to_keep(input.delivery_date),
            payment_method=_unset_to_keep(input.payment_method, lambda v: DomainPaymentMethod(v.value)),
            cost_centre_id=_unset_to_keep(input.cost_centre_id, lambda v: decode_id(v, "CostCentre") or 0),
        )), _payload)

    @strawberry.mutation(description="Submit your cart as an order (idempotent by key). Requires `order:create`.")
    async def submit_order(self, info: strawberry.Info, input: Annotated[SubmitOrderInput, INPUT]) -> OrderResult:
        # The cart is checked too, but only the key is input: the cart's faults carry no field.
        return await run_mutation(info, with_flow(lambda ctx: submit_order(ctx, idempotency_key=input.idempotency_key)),
                                  _payload, fields=only("idempotencyKey"))

    @strawberry.mutation(
        description="Cancel an order before approval: the buyer, or `order:manage` (managers, administrators).")
    async def cancel_order(self, info: strawberry.Info, input: Annotated[CancelOrderInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: order_use_cases.cancel_order(
            ctx, order_id=decode_id(input.id, "Order") or 0, reason=input.reason)), _payload)

    @strawberry.mutation(description="Mark an approved order fulfilled. Platform operators only (`order:fulfil`).")
    async def fulfil_order(self, info: strawberry.Info, input: Annotated[FulfilOrderInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: order_use_cases.fulfil_order(
            ctx, order_id=decode_id(input.id, "Order") or 0, comment=input.comment)), _payload)

    @strawberry.mutation(description=(
        "Record goods returned from a fulfilled order and credit them. Platform operators only (`order:fulfil`)."))
    async def record_return(self, info: strawberry.Info, input: Annotated[RecordReturnInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: order_use_cases.record_return(
            ctx, order_id=decode_id(input.order_id, "Order") or 0, line_id=decode_id(input.line_id, "OrderLine") or 0,
            quantity=input.quantity, reason=input.reason)), _payload)
