"""Runs of recurring orders by the worker: submitted once through the person's submission (two runners at once, a
crash mid-run), the buyer's own cart untouched, failures recorded and emailed to the buyer (real SMTP, escaped
HTML), paused after three failures in a row, a buyer no longer active stops the schedule."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from models import Membership, Order, OrderLine, RecurringOrder, RecurringOrderRun, Role
from models.base import utcnow
from models.user import MembershipStatus
from policies.scopes import cross_company
from resolvers.context import UseCaseContext
from resolvers.recurring_run import RUN_KIND, idempotency_key, run_due, run_schedule
from tests.helpers import succeeded
from tests.ordering_helpers import add_to_cart, change_product, create_product, mutate, pk_of, shop
from tests.schema import test_mail
from tests.schema.test_approval_mail import parts
from tests.schema.test_mail import delivered
from worker.handlers import HANDLERS
from worker.schedule import ENTRIES, Every

# test_mail's real SMTP server and the settings that deliver through it.
smtp_server, smtp, settings = test_mail.smtp_server, test_mail.smtp, test_mail.settings

HOSTILE = """<script>alert("x")</script> & Co's milk"""
RUNS = "runs { occurrence status errorCode errorMessage order { id status } }"
QUERY = f"query($id: ID!) {{ node(id: $id) {{ ... on RecurringOrder {{ status nextRunAt {RUNS} }} }} }}"


async def standing_order(api, services, *, name: str = "Monday milk"):
    """A buyer with a saved cart of one product, a weekly schedule made due a minute ago, and something else in the
    buyer's own cart; returns (tenant, buyer, schedule pk, product id)."""
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    milk = await create_product(services, None, 1250, 15)
    succeeded(await add_to_cart(api, buyer, product_id=milk, quantity=6), "addToCart")
    saved = succeeded(await mutate(api, "saveCart", "SaveCartInput", {"name": "Weekly"}, buyer.token,
                                   "__typename ... on SavedCartPayload { savedCart { id } }"), "saveCart")
    other = await create_product(services, None, 500, 25)
    succeeded(await add_to_cart(api, buyer, product_id=other, quantity=1), "addToCart")  # the buyer's own cart
    body = await mutate(api, "createRecurringOrder", "CreateRecurringOrderInput",
                        {"savedCartId": saved["savedCart"]["id"], "schedule": "FREQ=DAILY", "name": name},
                        buyer.token, "__typename ... on RecurringOrderPayload { recurringOrder { id } }")
    pk = pk_of(succeeded(body, "createRecurringOrder")["recurringOrder"]["id"])
    await make_due(services, pk)
    return tenant, buyer, pk, milk


async def make_due(services, pk: int, minutes_ago: int = 1) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(RecurringOrder).where(RecurringOrder.id == pk).values(
            next_run_at=utcnow().replace(microsecond=0) - timedelta(minutes=minutes_ago)))


async def rows(services, pk: int) -> tuple[list[RecurringOrderRun], list[Order], RecurringOrder]:
    async with services.db.read_sessions() as session:
        schedule = await session.get_one(RecurringOrder, pk)
        runs = list((await session.scalars(select(RecurringOrderRun).where(
            RecurringOrderRun.recurring_order_id == pk).order_by(RecurringOrderRun.id))).all())
        orders = list((await session.scalars(select(Order).where(
            Order.buyer_id == schedule.buyer_id, Order.status != "draft").order_by(Order.id))).all())
        return runs, orders, schedule


async def own_cart(services, buyer) -> tuple:
    async with services.db.read_sessions() as session:
        cart = await session.scalar(select(Order).where(Order.buyer_id == buyer.membership_id,
                                                        Order.status == "draft"))
        lines = (await session.execute(select(OrderLine.product_id, OrderLine.quantity).where(
            OrderLine.order_id == cart.id))).all()
        return cart.id, cart.updated_at, [tuple(line) for line in lines]


def test_the_worker_runs_recurring_orders_every_minute():
    assert RUN_KIND in HANDLERS
    assert [entry.cadence for entry in ENTRIES if entry.kind == RUN_KIND] == [Every(60)]


async def test_a_due_run_submits_the_saved_cart_as_the_buyer_and_leaves_their_cart_alone(api, services):
    _, buyer, pk, milk = await standing_order(api, services)
    cart_before = await own_cart(services, buyer)
    _, _, schedule = await rows(services, pk)
    occurrence = schedule.next_run_at
    assert await run_due(services, now=utcnow()) == 1
    runs, orders, schedule = await rows(services, pk)
    assert [(r.status, r.occurrence, r.order_id) for r in runs] == [("submitted", occurrence, orders[0].id)]
    assert len(orders) == 1 and orders[0].status in {"submitted", "approved"}
    assert orders[0].idempotency_key == idempotency_key(pk, occurrence)
    async with services.db.read_sessions() as session:
        lines = (await session.execute(select(OrderLine.product_id, OrderLine.quantity).where(
            OrderLine.order_id == orders[0].id))).all()
    assert [tuple(line) for line in lines] == [(milk, 6)] and orders[0].gross_minor > 0
    assert await own_cart(services, buyer) == cart_before
    assert schedule.status == "active" and schedule.next_run_at > utcnow()
    assert await run_due(services, now=utcnow()) == 0  # nothing due any more
    seen = (await api.query(QUERY, {"id": _gid(pk)}, token=buyer.token))["node"]
    assert [(r["status"], r["order"]["id"] is not None) for r in seen["runs"]] == [("SUBMITTED", True)]


def _gid(pk: int) -> str:
    from schema.relay import to_global_id
    return to_global_id("RecurringOrder", pk)


async def test_two_runners_at_once_submit_one_order(api, services):
    _, _, pk, _ = await standing_order(api, services)
    now = utcnow()
    made = await asyncio.gather(run_due(services, now=now), run_due(services, now=now), run_due(services, now=now))
    runs, orders, _ = await rows(services, pk)
    assert sum(made) == 1 and len(runs) == 1 and len(orders) == 1


async def test_a_crash_mid_run_leaves_nothing_and_the_next_run_submits_once(api, services):
    _, buyer, pk, _ = await standing_order(api, services)
    cart_before = await own_cart(services, buyer)
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as session:
            ctx = UseCaseContext(services=services, session=session, actor=None)
            schedule = await session.scalar(cross_company(select(RecurringOrder).where(RecurringOrder.id == pk),
                                                          "the test's schedule"))
            run = await run_schedule(ctx, schedule, now=utcnow())
            assert run.status == "submitted" and run.order_id is not None
            raise RuntimeError("the worker died before committing")
    runs, orders, _ = await rows(services, pk)
    assert (runs, orders) == ([], [])
    assert await own_cart(services, buyer) == cart_before
    assert await run_due(services, now=utcnow()) == 1
    runs, orders, _ = await rows(services, pk)
    assert len(runs) == 1 and len(orders) == 1 and runs[0].order_id == orders[0].id


async def test_a_failed_run_is_recorded_and_emailed_and_three_in_a_row_pause(api, services, smtp):
    _, buyer, pk, milk = await standing_order(api, services, name=HOSTILE)
    await change_product(services, milk, active=False)
    cart_before = await own_cart(services, buyer)
    assert await run_due(services, now=utcnow()) == 1
    runs, orders, schedule = await rows(services, pk)
    assert [(r.status, r.error_code) for r in runs] == [("failed", "PRODUCT_UNAVAILABLE")] and orders == []
    assert "no longer sold" in runs[0].error_message
    assert schedule.status == "active" and schedule.next_run_at > utcnow()
    assert await own_cart(services, buyer) == cart_before
    [message] = await delivered(services, smtp, buyer.email)
    text, html = parts(message)
    assert "could not be submitted" in text and HOSTILE in text and "no longer sold" in text
    assert "<script>" not in html and "&lt;script&gt;" in html and "next run" in html
    for minutes_ago in (3, 2):
        await make_due(services, pk, minutes_ago)
        await run_due(services, now=utcnow())
    runs, _, schedule = await rows(services, pk)
    assert [r.status for r in runs] == ["failed"] * 3
    assert (schedule.status, schedule.next_run_at) == ("paused", None)
    last = (await delivered(services, smtp, buyer.email, 3))[-1]
    assert "paused" in parts(last)[0]


async def test_a_buyer_no_longer_active_stops_the_schedule_at_run_time(api, services, smtp):
    _, buyer, pk, _ = await standing_order(api, services)
    async with services.db.transaction() as session:
        await session.execute(update(Membership).where(Membership.id == buyer.membership_id).values(
            status=MembershipStatus.DEACTIVATED.value))
    assert await run_due(services, now=utcnow()) == 1
    runs, orders, schedule = await rows(services, pk)
    assert [(r.status, r.error_code) for r in runs] == [("failed", "INVALID_STATE")] and orders == []
    assert (schedule.status, schedule.next_run_at) == ("stopped", None)
    await services.mailer.drain()
    assert smtp.to(buyer.email) == []
