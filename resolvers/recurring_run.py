"""The runs of recurring purchases (the worker's `recurring.run`, every minute).

Each due schedule (active, next_run_at <= now) is taken in a transaction of its own, locked (PostgreSQL: SKIP
LOCKED, so several workers share the due schedules without waiting on each other; SQLite: the write transaction
serializes them). In that transaction, for the occurrence next_run_at names:

- a RecurringOrderRun row, unique on (schedule, occurrence), is written first;
- the saved cart is submitted as its buyer through `submit_order`, the submission of a person (spend control,
  approval rules and their emails), with the idempotency key `recurring:<schedule>:<occurrence>`;
- next_run_at moves to the next occurrence after now (runs missed while the worker was down are not made up).

The run row, the order and the new next_run_at commit together or not at all: a crash mid-run leaves the schedule
due and nothing submitted, and the run happens once on the next try; a second worker finds the schedule locked, or
no longer due, and the run row and the order's (buyer, key) are unique besides.

The buyer's own cart is not touched. A buyer has one draft (a unique index), and submit_order submits the
caller's draft: for the length of the run's transaction the buyer's draft, locked, is set aside (its status
`parked`, never committed), the run's draft is filled from the saved cart and submitted, and the buyer's draft is
put back as it was (same status and updated_at). A buyer editing their cart at that moment waits a moment on the
lock; other readers see the committed draft throughout.

A failed submission (budget, purchase limit or credit exceeded, a product no longer sold, no approver, the buyer
no longer active...) is rolled back to a savepoint, recorded as a failed run with the error's code and message, and
emailed to the buyer; the schedule goes on. After MAX_CONSECUTIVE_FAILURES failed runs in a row it is paused (the
email says so), so a standing order that cannot go through stops mailing every week. A buyer who is no longer an
active member stops the schedule (status `stopped`) without an email.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select

from models import (
    DeliverySlot,
    EndCustomer,
    Membership,
    Order,
    OrderLine,
    RecurringOrder,
    RecurringOrderRun,
    RecurringRunStatus,
    RecurringStatus,
    SavedCart,
    SavedCartLine,
    User,
)
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from policies.permissions import Permission
from policies.scopes import company_row, company_rows, company_update, cross_company
from resolvers.approval_link import link_actor
from resolvers.cart import find_cart, open_cart
from resolvers.context import Services, UseCaseContext
from resolvers.jobs import ClaimedJob
from resolvers.mail import queue_mail
from resolvers.order_submit import submit_order
from resolvers.order_view import OrderView
from resolvers.recurring_order import next_after

log = structlog.get_logger()

RUN_KIND = "recurring.run"
MAX_CONSECUTIVE_FAILURES = 3
PARKED = "parked"  # the buyer's own draft while a run's draft is submitted; never committed
WHY = "the recurring purchase run looks at the due schedules of every company"


def _environment(autoescape: bool) -> Environment:
    return Environment(loader=PackageLoader("resolvers", "mail_templates"), autoescape=autoescape,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False)


_TEXT, _HTML = _environment(False), _environment(True)


async def run_job(services: Services, job: ClaimedJob) -> None:
    """The scheduled run: every schedule due by now (a slot's job may start a little after its slot)."""
    await run_due(services, now=max(utcnow(), datetime.fromisoformat(job.payload["slot"])))


def idempotency_key(schedule_id: int, occurrence: datetime) -> str:
    return f"recurring:{schedule_id}:{occurrence.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}"


async def run_due(services: Services, *, now: datetime, limit: int = 1000) -> int:
    """Run each schedule due at `now`, each in a transaction of its own; returns how many runs were made."""
    made = 0
    while made < limit:
        async with services.db.transaction() as session:
            ctx = UseCaseContext(services=services, session=session, actor=None)
            schedule = await session.scalar(cross_company(
                select(RecurringOrder).where(RecurringOrder.status == RecurringStatus.ACTIVE.value,
                                             RecurringOrder.next_run_at <= now)
                .order_by(RecurringOrder.next_run_at, RecurringOrder.id).limit(1)
                .with_for_update(skip_locked=True), WHY))
            if schedule is None:
                break
            await run_schedule(ctx, schedule, now=now)
        services.mailer.deliver_soon(ctx.queued_mail)
        made += 1
    return made


async def run_schedule(ctx: UseCaseContext, schedule: RecurringOrder, *, now: datetime) -> RecurringOrderRun:
    """The run of the occurrence `schedule.next_run_at`, in the caller's transaction (the schedule locked)."""
    assert schedule.next_run_at is not None
    occurrence = schedule.next_run_at
    done = await ctx.session.scalar(select(RecurringOrderRun).where(
        RecurringOrderRun.recurring_order_id == schedule.id, RecurringOrderRun.occurrence == occurrence))
    if done is not None:  # made before (the schedule was set back onto it): never twice, only move on
        schedule.next_run_at = next_after(schedule, max(now, occurrence))
        await ctx.session.flush()
        return done
    run = RecurringOrderRun(recurring_order_id=schedule.id, occurrence=occurrence,
                            status=RecurringRunStatus.SUBMITTED.value, error_message="")
    ctx.session.add(run)
    await ctx.session.flush()  # the (schedule, occurrence) pair is taken before anything is submitted
    buyer = await link_actor(ctx, schedule.buyer_id)
    if buyer is None or not ctx.services.authorizer.allows(buyer, Permission.ORDER_CREATE):
        run.status, run.error_code = RecurringRunStatus.FAILED.value, ErrorCode.INVALID_STATE.value
        run.error_message = "The buyer is no longer an active member who may order; the recurring order stopped"
        schedule.status, schedule.next_run_at = RecurringStatus.STOPPED.value, None
        await ctx.session.flush()
        return run
    as_buyer = UseCaseContext(services=ctx.services, session=ctx.session, actor=buyer, queued_mail=ctx.queued_mail)
    queued = len(ctx.queued_mail)
    try:
        async with ctx.session.begin_nested():
            view = await submit_saved_cart(as_buyer, schedule, occurrence)
        run.order_id = view.id
    except DomainError as error:
        del ctx.queued_mail[queued:]  # the submission's emails were rolled back with it
        run.status, run.error_code, run.error_message = RecurringRunStatus.FAILED.value, error.code.value, error.message
    except Exception as error:  # a run that cannot be made is recorded, and the others go on
        del ctx.queued_mail[queued:]
        log.exception("recurring_run_failed", schedule=schedule.id, occurrence=occurrence.isoformat())
        run.status, run.error_code = RecurringRunStatus.FAILED.value, "INTERNAL_ERROR"
        run.error_message = f"The order could not be submitted ({type(error).__name__})"
    schedule.next_run_at = next_after(schedule, max(now, occurrence))
    if run.status == RecurringRunStatus.FAILED.value:
        paused = await _failed_in_a_row(ctx, schedule) >= MAX_CONSECUTIVE_FAILURES
        if paused:
            schedule.status, schedule.next_run_at = RecurringStatus.PAUSED.value, None
        await _mail_failure(ctx, schedule, run, paused=paused)
    await ctx.session.flush()
    return run


async def _failed_in_a_row(ctx: UseCaseContext, schedule: RecurringOrder) -> int:
    statuses = (await ctx.session.scalars(
        select(RecurringOrderRun.status).where(RecurringOrderRun.recurring_order_id == schedule.id)
        .order_by(RecurringOrderRun.occurrence.desc()).limit(MAX_CONSECUTIVE_FAILURES))).all()
    count = 0
    for status in statuses:
        if status != RecurringRunStatus.FAILED.value:
            break
        count += 1
    return count


async def submit_saved_cart(ctx: UseCaseContext, schedule: RecurringOrder, occurrence: datetime) -> OrderView:
    """Submit the schedule's saved cart as its buyer (ctx.actor) through submit_order, the buyer's own draft set
    aside for the transaction's length (the module's docstring says how)."""
    own = await find_cart(ctx, for_update=True)
    if own is not None:
        await _set_status(ctx, own.id, PARKED)
    saved = await ctx.session.scalar(company_rows(SavedCart, ctx.actor).where(SavedCart.id == schedule.saved_cart_id))
    if saved is None or (saved.owner_id != schedule.buyer_id and not saved.shared):
        raise DomainError(ErrorCode.NOT_FOUND, "The saved cart of this recurring order is no longer available",
                          "savedCartId")
    draft = await open_cart(ctx)
    lines = (await ctx.session.scalars(
        select(SavedCartLine).where(SavedCartLine.saved_cart_id == saved.id).order_by(SavedCartLine.id))).all()
    for line in lines:  # a product no longer sold stays in: the submission refuses it by name
        ctx.session.add(OrderLine(order_id=draft.id, product_id=line.product_id, quantity=line.quantity,
                                  substitution_allowed=line.substitution_allowed))
    draft.reference, draft.po_number = schedule.reference, schedule.po_number
    draft.cost_centre_id, draft.payment_method = schedule.cost_centre_id, schedule.payment_method
    if schedule.end_customer_id is not None:
        customer = await company_row(ctx.session, EndCustomer, schedule.end_customer_id, schedule)
        if customer is None:
            raise DomainError(ErrorCode.NOT_FOUND, "The end customer of this recurring order is gone",
                              "endCustomerId")
        draft.end_customer_id, draft.location_id = customer.id, customer.location_id
        draft.delivery_slot_id = schedule.delivery_slot_id
        draft.delivery_date = await _delivery_date(ctx, schedule, occurrence)
    await ctx.session.flush()
    view = await submit_order(ctx, idempotency_key=idempotency_key(schedule.id, occurrence))
    if own is not None:
        await _set_status(ctx, own.id, OrderStatus.DRAFT.value)
    return view


async def _set_status(ctx: UseCaseContext, order_id: int, status: str) -> None:
    # updated_at set to itself: setting a cart aside and back is no change to it.
    await ctx.session.execute(
        company_update(Order, ctx.actor).where(Order.id == order_id).values(status=status, updated_at=Order.updated_at)
        .execution_options(synchronize_session=False))


async def _delivery_date(ctx: UseCaseContext, schedule: RecurringOrder, occurrence: datetime):
    """The first day of the slot's weekday on or after the run's day (in the schedule's time zone)."""
    slot = await ctx.session.get(DeliverySlot, schedule.delivery_slot_id) if schedule.delivery_slot_id else None
    day = occurrence.astimezone(ZoneInfo(schedule.timezone)).date()
    if slot is None:
        return day
    return day + timedelta(days=(slot.weekday - day.weekday()) % 7)


async def _mail_failure(ctx: UseCaseContext, schedule: RecurringOrder, run: RecurringOrderRun, *,
                        paused: bool) -> None:
    email = await ctx.session.scalar(
        company_rows(Membership, schedule, User.email).join(User, User.id == Membership.user_id)
        .where(Membership.id == schedule.buyer_id))
    if not email:
        return
    local = run.occurrence.astimezone(ZoneInfo(schedule.timezone))
    subject = f"Recurring order \u201c{schedule.name}\u201d could not be submitted"
    context = dict(subject=subject, name=schedule.name, when=f"{local:%Y-%m-%d %H:%M} ({schedule.timezone})",
                   code=run.error_code or "", message=run.error_message, paused=paused,
                   failures=MAX_CONSECUTIVE_FAILURES,
                   next_run=(f"{schedule.next_run_at.astimezone(ZoneInfo(schedule.timezone)):%Y-%m-%d %H:%M}"
                             if schedule.next_run_at else None))
    body = _TEXT.get_template("recurring_failed.txt").render(**context)
    html_body = _HTML.get_template("recurring_failed.html").render(**context)
    await queue_mail(ctx, to=email, subject=subject, body=body, html_body=html_body)
