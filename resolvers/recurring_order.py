"""Recurring purchases (standing orders): a saved cart submitted on a schedule, an RFC 5545 recurrence rule.

The rule is parsed by python-dateutil and its occurrences are computed in the schedule's time zone (wall-clock:
"every Monday at 07:00" stays 07:00 in Oslo across daylight saving time), then stored in UTC. The time of day is
the one of `startsAt` (07:00 in the schedule's time zone when it is omitted) unless the rule names BYHOUR and
BYMINUTE. At most one run a day: SECONDLY, MINUTELY and HOURLY rules, and any rule with two runs on one day, are
refused, as is a rule that never occurs again.

Who: a buyer (`order:create`) sets up, changes, pauses, resumes and cancels their own; `order:manage`
(administrators, managers) any of their company's. Resuming computes the next run from now: missed runs are never
made up. A schedule whose buyer is deactivated or blocked stops (`stopped`) and is not resumed with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, rrule, rrulestr
from sqlalchemy import select, update

from models import DeliverySlot, EndCustomer, RecurringOrder, RecurringOrderRun, RecurringStatus
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_rows, cross_company
from resolvers.context import UseCaseContext
from resolvers.cost_centre import resolve_cost_centre
from resolvers.location import find_end_customer
from resolvers.pagination import Page, keyset_page
from resolvers.saved_cart import get_saved_cart
from resolvers.validation import clean_text

DEFAULT_TIME = time(7, 0)
MAX_UPCOMING = 20
LIVE = (RecurringStatus.ACTIVE.value, RecurringStatus.PAUSED.value)
_PROBE = 60  # occurrences looked at to find two on one day
STOP_WHY = "the schedules of a member the caller has found (deactivated or blocked)"


# --- the rule -------------------------------------------------------------------------------------------------------

def parse_rule(schedule: str, starts_at: datetime, timezone: str) -> rrule:
    """The recurrence of `schedule` from `starts_at` (aware) in `timezone`; INVALID_INPUT (field `schedule`) when it
    is not one RRULE, runs more than once a day, or never runs."""
    text = schedule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or len(text) > 500 or any(c in text for c in "\r\n") or "DTSTART" in text.upper() \
            or (not text.upper().startswith("FREQ=") and ";FREQ=" not in text.upper()):
        raise _bad("The schedule is an RFC 5545 recurrence rule such as FREQ=WEEKLY;BYDAY=MO")
    try:
        rule = rrulestr(text, dtstart=starts_at.astimezone(ZoneInfo(timezone)))
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise _bad(f"The schedule is not a valid recurrence rule ({error})") from None
    if not isinstance(rule, rrule):
        raise _bad("The schedule is one recurrence rule")
    if rule._freq > DAILY:  # HOURLY, MINUTELY, SECONDLY
        raise _bad("A schedule runs at most once a day: use FREQ=DAILY, WEEKLY, MONTHLY or YEARLY")
    days: set[date] = set()
    for occurrence in islice(rule, _PROBE):
        if occurrence.date() in days:
            raise _bad("A schedule runs at most once a day")
        days.add(occurrence.date())
    return rule


def _bad(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, "schedule")


def occurrences_after(schedule: RecurringOrder, after: datetime, count: int = 1) -> list[datetime]:
    """The next `count` occurrences strictly after `after`, in UTC."""
    rule = parse_rule(schedule.rrule, schedule.starts_at, schedule.timezone)
    found: list[datetime] = []
    moment = after.astimezone(ZoneInfo(schedule.timezone))
    while len(found) < count and (moment := rule.after(moment, inc=False)) is not None:
        found.append(moment.astimezone(ZoneInfo("UTC")))
    return found


def next_after(schedule: RecurringOrder, after: datetime) -> datetime | None:
    found = occurrences_after(schedule, after)
    return found[0] if found else None


def default_start(now: datetime, timezone: str) -> datetime:
    """Today at 07:00 in the schedule's time zone (occurrences before now are skipped)."""
    local = now.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), DEFAULT_TIME, tzinfo=ZoneInfo(timezone))


# --- use cases ------------------------------------------------------------------------------------------------------

@dataclass
class ScheduleSpec:
    """What createRecurringOrder and updateRecurringOrder set; KEEP (None on update) leaves a field as it is."""

    name: str | None = None
    schedule: str | None = None
    starts_at: datetime | None = None
    delivery_slot_id: int | None = None
    end_customer_id: int | None = None
    cost_centre_id: int | None = None
    reference: str | None = None
    po_number: str | None = None


async def create_recurring_order(ctx: UseCaseContext, *, saved_cart_id: int, spec: ScheduleSpec) -> RecurringOrder:
    actor = ctx.require(Permission.ORDER_CREATE)
    assert actor.membership_id is not None and actor.company_id is not None  # order:create is a member's
    if await get_saved_cart(ctx, saved_cart_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such saved cart", "savedCartId")
    now = utcnow()
    schedule = RecurringOrder(company_id=actor.company_id, buyer_id=actor.membership_id, saved_cart_id=saved_cart_id,
                              status=RecurringStatus.ACTIVE.value, timezone="Europe/Oslo", reference="", po_number="")
    schedule.name = clean_text(spec.name or "", "name", 200)
    if spec.schedule is None:
        raise _bad("Give the schedule as a recurrence rule")
    await _apply(ctx, schedule, spec, now, creating=True)
    ctx.session.add(schedule)
    await ctx.session.flush()
    return schedule


async def _apply(ctx: UseCaseContext, schedule: RecurringOrder, spec: ScheduleSpec, now: datetime, *,
                 creating: bool) -> None:
    if spec.name is not None and not creating:
        schedule.name = clean_text(spec.name, "name", 200)
    if spec.reference is not None:
        schedule.reference = clean_text(spec.reference, "reference", 200, required=False) or ""
    if spec.po_number is not None:
        schedule.po_number = clean_text(spec.po_number, "poNumber", 100, required=False) or ""
    if spec.cost_centre_id is not None:
        schedule.cost_centre_id = await resolve_cost_centre(ctx, schedule.buyer_id, spec.cost_centre_id)
    if spec.end_customer_id is not None or spec.delivery_slot_id is not None:
        await _set_delivery(ctx, schedule, spec)
    if spec.schedule is not None or spec.starts_at is not None:
        if spec.starts_at is not None and spec.starts_at.tzinfo is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "startsAt needs a time zone offset", "startsAt")
        starts_at = spec.starts_at or (schedule.starts_at if not creating else default_start(now, schedule.timezone))
        rule = spec.schedule if spec.schedule is not None else schedule.rrule
        parse_rule(rule, starts_at, schedule.timezone)
        schedule.rrule, schedule.starts_at = rule.strip().removeprefix("RRULE:"), starts_at
        following = next_after(schedule, max(now, starts_at - timedelta(microseconds=1)))
        if following is None:
            raise _bad("The schedule has no run after now")
        if schedule.status == RecurringStatus.ACTIVE.value:
            schedule.next_run_at = following


async def _set_delivery(ctx: UseCaseContext, schedule: RecurringOrder, spec: ScheduleSpec) -> None:
    """As checkout: a slot is one of the end customer's unit's, not retired; an end customer needs a slot."""
    customer_id = spec.end_customer_id or schedule.end_customer_id
    if customer_id is None:
        raise DomainError(ErrorCode.INVALID_DELIVERY, "A delivery slot is chosen for an end customer",
                          "deliverySlotId")
    customer: EndCustomer | None = await find_end_customer(ctx, customer_id)
    if customer is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such end customer", "endCustomerId")
    slot_id = spec.delivery_slot_id if spec.delivery_slot_id is not None else (
        schedule.delivery_slot_id if customer.id == schedule.end_customer_id else None)
    slot = await ctx.session.get(DeliverySlot, slot_id) if slot_id is not None else None
    if slot is None or slot.location_id != customer.location_id or slot.retired_at is not None:
        raise DomainError(ErrorCode.INVALID_DELIVERY, "Choose one of the delivery slots of the end customer's unit",
                          "deliverySlotId")
    schedule.end_customer_id, schedule.delivery_slot_id = customer.id, slot.id


def _scope(ctx: UseCaseContext):
    actor = ctx.require(Permission.ORDER_CREATE)
    query = company_rows(RecurringOrder, actor)
    if not ctx.allows(Permission.ORDER_MANAGE):
        query = query.where(RecurringOrder.buyer_id == actor.membership_id)
    return query


async def get_recurring_order(ctx: UseCaseContext, recurring_order_id: int) -> RecurringOrder | None:
    """A schedule the caller may see: their own, or any of the company's with `order:manage`."""
    return await ctx.session.scalar(_scope(ctx).where(RecurringOrder.id == recurring_order_id))


async def _find(ctx: UseCaseContext, recurring_order_id: int) -> RecurringOrder:
    schedule = await ctx.session.scalar(
        _scope(ctx).where(RecurringOrder.id == recurring_order_id).with_for_update())
    if schedule is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such recurring order", "id")
    return schedule


@dataclass
class RecurringFilter:
    status: RecurringStatus | None = None
    buyer_id: int | None = None


async def list_recurring_orders(
    ctx: UseCaseContext, *, filter: RecurringFilter, first: int, after: int | None,
) -> Page[RecurringOrder]:
    query = _scope(ctx)
    if filter.status is not None:
        query = query.where(RecurringOrder.status == filter.status.value)
    if filter.buyer_id is not None:
        query = query.where(RecurringOrder.buyer_id == filter.buyer_id)
    return await keyset_page(ctx.session, query, RecurringOrder.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)


async def update_recurring_order(ctx: UseCaseContext, *, recurring_order_id: int, spec: ScheduleSpec) -> RecurringOrder:
    schedule = await _find(ctx, recurring_order_id)
    _require_live(schedule)
    await _apply(ctx, schedule, spec, utcnow(), creating=False)
    await ctx.session.flush()
    return schedule


def _require_live(schedule: RecurringOrder) -> None:
    if schedule.status not in LIVE:
        raise DomainError(ErrorCode.INVALID_STATE, f"The recurring order is {schedule.status}", "id")


async def pause_recurring_order(ctx: UseCaseContext, *, recurring_order_id: int) -> RecurringOrder:
    schedule = await _find(ctx, recurring_order_id)
    if schedule.status != RecurringStatus.ACTIVE.value:
        raise DomainError(ErrorCode.INVALID_STATE, f"The recurring order is {schedule.status}, not active", "id")
    schedule.status, schedule.next_run_at = RecurringStatus.PAUSED.value, None
    await ctx.session.flush()
    return schedule


async def resume_recurring_order(ctx: UseCaseContext, *, recurring_order_id: int) -> RecurringOrder:
    """Active again from the next occurrence after now; the runs missed while paused are not made up."""
    schedule = await _find(ctx, recurring_order_id)
    if schedule.status != RecurringStatus.PAUSED.value:
        raise DomainError(ErrorCode.INVALID_STATE, f"The recurring order is {schedule.status}, not paused", "id")
    following = next_after(schedule, utcnow())
    if following is None:
        raise DomainError(ErrorCode.INVALID_STATE, "The schedule has no run after now", "id")
    schedule.status, schedule.next_run_at = RecurringStatus.ACTIVE.value, following
    await ctx.session.flush()
    return schedule


async def cancel_recurring_order(ctx: UseCaseContext, *, recurring_order_id: int) -> RecurringOrder:
    schedule = await _find(ctx, recurring_order_id)
    _require_live(schedule)
    schedule.status, schedule.next_run_at = RecurringStatus.CANCELLED.value, None
    await ctx.session.flush()
    return schedule


async def runs_of(ctx: UseCaseContext, recurring_order_ids: list[int]) -> dict[int, list[RecurringOrderRun]]:
    """The runs of schedules the caller has read, newest first."""
    rows = (await ctx.session.scalars(select(RecurringOrderRun).where(
        RecurringOrderRun.recurring_order_id.in_(recurring_order_ids))
        .order_by(RecurringOrderRun.occurrence.desc(), RecurringOrderRun.id.desc()))).all()
    result: dict[int, list[RecurringOrderRun]] = {i: [] for i in recurring_order_ids}
    for run in rows:
        result[run.recurring_order_id].append(run)
    return result


async def stop_recurring_orders_of(ctx: UseCaseContext, membership_id: int) -> int:
    """Stop every active or paused schedule of this member (deactivated or blocked), in the caller's transaction;
    returns how many. A stopped schedule is not resumed when the member is reactivated or unblocked: they set it
    up again (or an administrator does) when it is still wanted."""
    result = await ctx.session.execute(cross_company(
        update(RecurringOrder).where(RecurringOrder.buyer_id == membership_id, RecurringOrder.status.in_(LIVE))
        .values(status=RecurringStatus.STOPPED.value, next_run_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False), STOP_WHY))
    return result.rowcount  # type: ignore[attr-defined]

