"""Recurring purchases: standing orders from a saved cart on an RFC 5545 schedule (resolvers/recurring_order.py)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import RecurringOrder as RecurringOrderModel
from models import RecurringOrderRun as RunModel
from models import RecurringStatus
from models.base import utcnow
from resolvers import approval_view
from resolvers import order as order_use_cases
from resolvers import recurring_order as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.order_types import Order, order_from_view
from schema.relay import Connection, Node, connection, decode_id, from_cursor, optional_id, to_global_id


@strawberry.enum(description="Where a recurring order stands.")
class RecurringOrderStatus(Enum):
    _value_: str

    ACTIVE = strawberry.enum_value("active", description="Runs on its schedule.")
    PAUSED = strawberry.enum_value("paused", description=(
        "Paused by its buyer or a manager, or after failing three runs in a row; resuming runs it from the next "
        "occurrence after now (missed runs are not made up)."))
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled: it never runs again.")
    STOPPED = strawberry.enum_value("stopped", description="Its buyer was deactivated or blocked: it never runs again.")


@strawberry.enum(description="How one run of a recurring order went.")
class RecurringRunStatus(Enum):
    _value_: str

    SUBMITTED = strawberry.enum_value("submitted", description="The order was submitted (it may await approval).")
    FAILED = strawberry.enum_value("failed", description="The order could not be submitted; errorCode says why.")


@strawberry.type(description="One run of a recurring order: one occurrence of its schedule.")
class RecurringOrderRun:
    occurrence: datetime = strawberry.field(description="The occurrence of the schedule this run was for (UTC).")
    status: RecurringRunStatus = strawberry.field(description="Submitted or failed.")
    error_code: str | None = strawberry.field(description="Why it failed: an ErrorCode (e.g. BUDGET_EXCEEDED).")
    error_message: str | None = strawberry.field(description="Why it failed, in words.")
    ran_at: datetime = strawberry.field(description="When the run was made (UTC).")
    order_pk: strawberry.Private[int | None] = None

    @strawberry.field(description="The order the run submitted; null when it failed or is not yours to see.")
    async def order(self, info: strawberry.Info) -> Order | None:
        if self.order_pk is None:
            return None
        async with info.context.reading() as ctx:
            view = await order_use_cases.get_order(ctx, self.order_pk)
            return order_from_view(view, (await approval_view.flows(ctx, [view]))[view.id]) if view else None

    @classmethod
    def from_model(cls, run: RunModel) -> RecurringOrderRun:
        failed = run.status == "failed"
        return cls(occurrence=run.occurrence, status=RecurringRunStatus(run.status),
                   error_code=run.error_code if failed else None, error_message=run.error_message if failed else None,
                   ran_at=run.created_at, order_pk=run.order_id)


def _gid(kind: str, pk: int | None) -> strawberry.ID | None:
    return strawberry.ID(to_global_id(kind, pk)) if pk is not None else None


@strawberry.type(description=(
    "A standing order: a saved cart submitted on a schedule by the background worker, as its buyer, through the "
    "same submission as the buyer's own orders (budgets, purchase limits, credit, approval rules, emails)."))
class RecurringOrder(Node):
    name: str = strawberry.field(description="Its name.")
    schedule: str = strawberry.field(description="The RFC 5545 recurrence rule, e.g. FREQ=WEEKLY;BYDAY=MO.")
    timezone: str = strawberry.field(description="The time zone its occurrences are computed in (e.g. Europe/Oslo).")
    starts_at: datetime = strawberry.field(description=(
        "When the schedule begins; its time of day in the time zone is the time of the runs (UTC)."))
    next_run_at: datetime | None = strawberry.field(description="The next run (UTC); null when not active.")
    status: RecurringOrderStatus = strawberry.field(description="Where it stands.")
    buyer_id: strawberry.ID = strawberry.field(description="Global id of the buyer (User) it orders as.")
    saved_cart_id: strawberry.ID = strawberry.field(description="Global id of the saved cart it submits.")
    end_customer_id: strawberry.ID | None = strawberry.field(description="The end customer ordered for, if any.")
    delivery_slot_id: strawberry.ID | None = strawberry.field(description="The delivery slot, with an end customer.")
    cost_centre_id: strawberry.ID | None = strawberry.field(description="The cost centre; null: the buyer's default.")
    reference: str = strawberry.field(description="The reference each order carries.")
    po_number: str = strawberry.field(description="The purchase order number each order carries.")
    created_at: datetime = strawberry.field(description="When it was set up (UTC).")
    model: strawberry.Private[RecurringOrderModel | None] = None

    @strawberry.field(description="The next occurrences after now (UTC), at most 20; empty when not active.")
    def upcoming(
        self, count: Annotated[int, strawberry.argument(description="How many, 1 to 20.")] = 5,
    ) -> list[datetime]:
        if self.model is None or self.model.status != "active":
            return []
        return use_cases.occurrences_after(self.model, utcnow(), max(1, min(count, use_cases.MAX_UPCOMING)))

    @strawberry.field(description="Its runs, newest first.")
    async def runs(self, info: strawberry.Info) -> list[RecurringOrderRun]:
        assert self.model is not None
        async with info.context.reading() as ctx:
            found = await use_cases.get_recurring_order(ctx, self.model.id)
            runs = (await use_cases.runs_of(ctx, [found.id]))[found.id] if found else []
        return [RecurringOrderRun.from_model(run) for run in runs]

    @classmethod
    def from_model(cls, r: RecurringOrderModel) -> RecurringOrder:
        return cls(
            id=to_global_id("RecurringOrder", r.id), name=r.name, schedule=r.rrule, timezone=r.timezone,
            starts_at=r.starts_at, next_run_at=r.next_run_at, status=RecurringOrderStatus(r.status),
            buyer_id=strawberry.ID(to_global_id("User", r.buyer_id)),
            saved_cart_id=strawberry.ID(to_global_id("SavedCart", r.saved_cart_id)),
            end_customer_id=_gid("EndCustomer", r.end_customer_id), delivery_slot_id=_gid("DeliverySlot",
                                                                                           r.delivery_slot_id),
            cost_centre_id=_gid("CostCentre", r.cost_centre_id), reference=r.reference, po_number=r.po_number,
            created_at=r.created_at, model=r)


async def fetch_recurring_order(ctx, pk: int) -> RecurringOrder | None:
    """node(id:): the caller's own, or any of the company's with `order:manage`."""
    found = await use_cases.get_recurring_order(ctx, pk)
    return RecurringOrder.from_model(found) if found else None


@strawberry.input(description="A standing order from a saved cart.")
class CreateRecurringOrderInput:
    saved_cart_id: strawberry.ID = strawberry.field(description="The saved cart (yours or a shared one).")
    schedule: str = strawberry.field(description=(
        "An RFC 5545 recurrence rule, at most once a day: FREQ=WEEKLY;BYDAY=MO, FREQ=WEEKLY;INTERVAL=2;BYDAY=TU, "
        "FREQ=MONTHLY;BYMONTHDAY=1, ..."))
    name: str = strawberry.field(description="Its name (up to 200 characters).")
    starts_at: datetime | None = strawberry.field(default=None, description=(
        "When it begins, with a UTC offset; the time of day of the runs. Default: today at 07:00, Europe/Oslo."))
    end_customer_id: strawberry.ID | None = strawberry.field(default=None, description="Order for this end customer.")
    delivery_slot_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "One of the end customer's unit's delivery slots (needed with an end customer); each run is delivered on "
        "the slot's next weekday."))
    cost_centre_id: strawberry.ID | None = strawberry.field(default=None, description="One of your cost centres.")
    reference: str | None = strawberry.field(default=None, description="A reference each order carries.")
    po_number: str | None = strawberry.field(default=None, description="A purchase order number each order carries.")


@strawberry.input(description="Changes to a recurring order; omitted fields stay as they are.")
class UpdateRecurringOrderInput:
    id: strawberry.ID = strawberry.field(description="The recurring order.")
    schedule: str | None = strawberry.field(default=None, description="A new recurrence rule.")
    name: str | None = strawberry.field(default=None, description="A new name.")
    starts_at: datetime | None = strawberry.field(default=None, description="A new start (and time of day).")
    end_customer_id: strawberry.ID | None = strawberry.field(default=None, description="Another end customer.")
    delivery_slot_id: strawberry.ID | None = strawberry.field(default=None, description="Another delivery slot.")
    cost_centre_id: strawberry.ID | None = strawberry.field(default=None, description="Another cost centre.")
    reference: str | None = strawberry.field(default=None, description="A new reference.")
    po_number: str | None = strawberry.field(default=None, description="A new purchase order number.")


@strawberry.input(description="A recurring order.")
class RecurringOrderIdInput:
    id: strawberry.ID = strawberry.field(description="The recurring order.")


@strawberry.input(description="Which recurring orders to list.")
class RecurringOrderFilter:
    status: RecurringOrderStatus | None = strawberry.field(default=None, description="Only those in this status.")
    buyer_id: strawberry.ID | None = strawberry.field(default=None, description="Only this buyer's (User).")


@strawberry.type(description="The recurring order after the change.")
class RecurringOrderPayload:
    recurring_order: RecurringOrder = strawberry.field(description="The recurring order.")


RecurringOrderResult = Annotated[
    RecurringOrderPayload | MutationError,
    strawberry.union("RecurringOrderResult", description="Result of a recurring order's change."),
]


def _payload(schedule: RecurringOrderModel) -> RecurringOrderPayload:
    return RecurringOrderPayload(recurring_order=RecurringOrder.from_model(schedule))


def _id(value: str) -> int:
    return decode_id(value, "RecurringOrder") or 0


def _spec(i: CreateRecurringOrderInput | UpdateRecurringOrderInput) -> use_cases.ScheduleSpec:
    return use_cases.ScheduleSpec(
        name=i.name, schedule=i.schedule, starts_at=i.starts_at,
        delivery_slot_id=optional_id(i.delivery_slot_id, "DeliverySlot"),
        end_customer_id=optional_id(i.end_customer_id, "EndCustomer"),
        cost_centre_id=optional_id(i.cost_centre_id, "CostCentre"), reference=i.reference, po_number=i.po_number)


WHO = "your own as a buyer (`order:create`); any of the company's with `order:manage` (administrators, managers)"


@strawberry.type
class RecurringOrderQuery:
    @strawberry.field(description=f"Recurring orders, oldest first: {WHO}.")
    async def recurring_orders(
        self, info: strawberry.Info,
        filter: Annotated[RecurringOrderFilter | None, strawberry.argument(description="Filters.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[RecurringOrder]:
        f = filter or RecurringOrderFilter()
        domain_filter = use_cases.RecurringFilter(
            status=RecurringStatus(f.status.value) if f.status else None,
            buyer_id=optional_id(f.buyer_id, "User"))
        async with info.context.reading() as ctx:
            page = await use_cases.list_recurring_orders(ctx, filter=domain_filter, first=first,
                                                          after=from_cursor(after))
        return connection(page, RecurringOrder.from_model)


@strawberry.type
class RecurringOrderMutation:
    @strawberry.mutation(description=(
        "Set up a standing order from a saved cart you may use, on an RFC 5545 schedule (at most once a day, in "
        "Europe/Oslo time). Requires `order:create`."))
    async def create_recurring_order(
        self, info: strawberry.Info, input: Annotated[CreateRecurringOrderInput, INPUT],
    ) -> RecurringOrderResult:
        return await run_mutation(info, lambda ctx: use_cases.create_recurring_order(
            ctx, saved_cart_id=decode_id(input.saved_cart_id, "SavedCart") or 0, spec=_spec(input)), _payload)

    @strawberry.mutation(description=f"Change a recurring order that is active or paused: {WHO}.")
    async def update_recurring_order(
        self, info: strawberry.Info, input: Annotated[UpdateRecurringOrderInput, INPUT],
    ) -> RecurringOrderResult:
        return await run_mutation(info, lambda ctx: use_cases.update_recurring_order(
            ctx, recurring_order_id=_id(input.id), spec=_spec(input)), _payload)

    @strawberry.mutation(description=f"Pause an active recurring order: {WHO}.")
    async def pause_recurring_order(
        self, info: strawberry.Info, input: Annotated[RecurringOrderIdInput, INPUT],
    ) -> RecurringOrderResult:
        return await run_mutation(info, lambda ctx: use_cases.pause_recurring_order(
            ctx, recurring_order_id=_id(input.id)), _payload)

    @strawberry.mutation(description=(
        f"Resume a paused recurring order from its next occurrence after now (missed runs are not made up): {WHO}."))
    async def resume_recurring_order(
        self, info: strawberry.Info, input: Annotated[RecurringOrderIdInput, INPUT],
    ) -> RecurringOrderResult:
        return await run_mutation(info, lambda ctx: use_cases.resume_recurring_order(
            ctx, recurring_order_id=_id(input.id)), _payload)

    @strawberry.mutation(description=f"Cancel a recurring order for good: {WHO}.")
    async def cancel_recurring_order(
        self, info: strawberry.Info, input: Annotated[RecurringOrderIdInput, INPUT],
    ) -> RecurringOrderResult:
        return await run_mutation(info, lambda ctx: use_cases.cancel_recurring_order(
            ctx, recurring_order_id=_id(input.id)), _payload)
