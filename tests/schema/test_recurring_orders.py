"""Recurring orders through the API: schedules parsed and refused, occurrences in Oslo time across daylight saving
time, pause, resume, change, cancel, who may do what (refusals change nothing), a deactivated buyer's schedules
stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import RecurringOrder, Role
from models.errors import DomainError
from resolvers.recurring_order import next_after, occurrences_after, parse_rule
from tests.helpers import failed, outcome, snapshot, succeeded
from tests.ordering_helpers import add_buyer, add_to_cart, create_product, gid, mutate, pk_of, shop

OSLO = ZoneInfo("Europe/Oslo")
NODE = ("id name schedule timezone startsAt nextRunAt status buyerId savedCartId endCustomerId deliverySlotId "
        "costCentreId reference poNumber upcoming(count: 3) runs { occurrence status errorCode }")
RESULT = f"__typename ... on RecurringOrderPayload {{ recurringOrder {{ {NODE} }} }} " \
         "... on MutationError { code message field }"
LIST = f"query($f: RecurringOrderFilter) {{ recurringOrders(filter: $f) {{ edges {{ node {{ {NODE} }} }} }} }}"


async def saved_cart(api, services, member, name: str = "Weekly") -> str:
    milk = await create_product(services, None, 1250, 15)
    succeeded(await add_to_cart(api, member, product_id=milk, quantity=6), "addToCart")
    body = await mutate(api, "saveCart", "SaveCartInput", {"name": name}, member.token,
                        "__typename ... on SavedCartPayload { savedCart { id } } ... on MutationError { code }")
    return succeeded(body, "saveCart")["savedCart"]["id"]


async def create(api, member, saved_id: str, schedule: str = "FREQ=WEEKLY;BYDAY=MO", **extra) -> dict:
    return await mutate(api, "createRecurringOrder", "CreateRecurringOrderInput",
                        {"savedCartId": saved_id, "schedule": schedule, "name": "Monday milk", **extra},
                        member.token, RESULT)


async def change(api, member, mutation: str, schedule_id: str, input_type: str = "RecurringOrderIdInput",
                 **fields) -> dict:
    return await mutate(api, mutation, input_type, {"id": schedule_id, **fields}, member.token, RESULT)


async def setup(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER, Role.ACCOUNTANT])
    buyer = tenant[Role.CUSTOMER]
    return tenant, buyer, await saved_cart(api, services, buyer)


def parsed(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- the rule --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
                                  "FREQ=MONTHLY;BYMONTHDAY=1", "RRULE:FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=10"])
def test_rules_accepted(rule):
    parse_rule(rule, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), "Europe/Oslo")


@pytest.mark.parametrize("rule", ["", "weekly", "FREQ=HOURLY", "FREQ=MINUTELY;INTERVAL=5", "FREQ=SECONDLY",
                                  "FREQ=DAILY;BYHOUR=7,19", "FREQ=FORTNIGHTLY", "FREQ=WEEKLY;BYDAY=XX",
                                  "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO" + ";X" * 300])
def test_rules_refused(rule):
    with pytest.raises(DomainError) as refused:
        parse_rule(rule, datetime(2026, 3, 2, 6, 0, tzinfo=UTC), "Europe/Oslo")
    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "schedule")


def test_a_rule_that_has_ended_has_no_next_run():
    schedule = RecurringOrder(rrule="FREQ=WEEKLY;UNTIL=20260201T000000Z", timezone="Europe/Oslo",
                              starts_at=datetime(2026, 1, 5, 7, 0, tzinfo=OSLO))
    assert next_after(schedule, datetime(2026, 3, 3, tzinfo=UTC)) is None


def test_a_monday_at_seven_in_oslo_stays_at_seven_across_both_daylight_saving_changes():
    # 2026: summer time begins on Sunday 29 March and ends on Sunday 25 October.
    schedule = RecurringOrder(rrule="FREQ=WEEKLY;BYDAY=MO", timezone="Europe/Oslo",
                              starts_at=datetime(2026, 3, 16, 7, 0, tzinfo=OSLO))
    spring = occurrences_after(schedule, datetime(2026, 3, 17, tzinfo=UTC), 2)
    assert spring == [datetime(2026, 3, 23, 6, 0, tzinfo=UTC), datetime(2026, 3, 30, 5, 0, tzinfo=UTC)]
    autumn = occurrences_after(schedule, datetime(2026, 10, 20, tzinfo=UTC), 2)
    assert autumn == [datetime(2026, 10, 26, 6, 0, tzinfo=UTC), datetime(2026, 11, 2, 6, 0, tzinfo=UTC)]
    assert [o.astimezone(OSLO).hour for o in spring + autumn] == [7, 7, 7, 7]
    assert autumn[0] - occurrences_after(schedule, datetime(2026, 10, 18, tzinfo=UTC))[0] == timedelta(hours=169)


# --- through the API -------------------------------------------------------------------------------------------------

async def test_a_buyer_sets_up_a_weekly_order_and_sees_the_next_runs(api, services):
    _, buyer, saved_id = await setup(api, services)
    body = await create(api, buyer, saved_id, startsAt="2026-03-16T07:00:00+01:00", reference="Kitchen",
                        poNumber="PO-7")
    schedule = succeeded(body, "createRecurringOrder")["recurringOrder"]
    assert (schedule["status"], schedule["schedule"], schedule["timezone"]) == ("ACTIVE", "FREQ=WEEKLY;BYDAY=MO",
                                                                                "Europe/Oslo")
    assert (schedule["reference"], schedule["poNumber"], schedule["buyerId"]) == (
        "Kitchen", "PO-7", gid("User", buyer.membership_id))
    upcoming = [parsed(u) for u in schedule["upcoming"]]
    assert len(upcoming) == 3 and parsed(schedule["nextRunAt"]) == upcoming[0] > datetime.now(UTC)
    assert all(u.astimezone(OSLO).weekday() == 0 and u.astimezone(OSLO).hour == 7 for u in upcoming)
    assert schedule["runs"] == [] and schedule["costCentreId"] is None  # the buyer's default at each run
    listed = (await api.query(LIST, token=buyer.token))["recurringOrders"]["edges"]
    assert [e["node"]["id"] for e in listed] == [schedule["id"]]
    node = await api.query("query($id: ID!) { node(id: $id) { ... on RecurringOrder { name } } }",
                           {"id": schedule["id"]}, token=buyer.token)
    assert node["node"] == {"name": "Monday milk"}


async def test_without_a_start_the_runs_are_at_seven_in_oslo(api, services):
    _, buyer, saved_id = await setup(api, services)
    schedule = succeeded(await create(api, buyer, saved_id, "FREQ=DAILY"), "createRecurringOrder")["recurringOrder"]
    first = parsed(schedule["nextRunAt"])
    assert first.astimezone(OSLO).hour == 7 and first > datetime.now(UTC) and first - datetime.now(UTC) <= timedelta(
        days=1, hours=1)


@pytest.mark.parametrize(("rule", "message"), [
    ("FREQ=HOURLY", "at most once a day"), ("FREQ=DAILY;BYHOUR=6,18", "at most once a day"),
    ("nonsense", "recurrence rule"), ("FREQ=WEEKLY;COUNT=1;BYDAY=MO", "no run after now"),
])
async def test_a_bad_schedule_is_refused_in_the_apis_words_and_changes_nothing(api, services, rule, message):
    _, buyer, saved_id = await setup(api, services)
    before = await snapshot(services)
    error = failed(await create(api, buyer, saved_id, rule, startsAt="2025-01-06T07:00:00+01:00"),
                   "createRecurringOrder")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "schedule") and message in error["message"]
    assert await snapshot(services) == before


async def test_a_saved_cart_not_yours_and_a_slot_without_an_end_customer_are_refused(api, services):
    tenant, buyer, saved_id = await setup(api, services)
    other = await add_buyer(api, tenant)
    before = await snapshot(services)
    assert outcome(await create(api, other, saved_id), "createRecurringOrder") == "NOT_FOUND"
    error = failed(await create(api, buyer, saved_id, deliverySlotId=gid("DeliverySlot", 1)), "createRecurringOrder")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", "input.deliverySlotId") or error["code"] == \
        "INVALID_DELIVERY"
    assert await snapshot(services) == before


async def test_pause_resume_change_and_cancel(api, services):
    _, buyer, saved_id = await setup(api, services)
    schedule = succeeded(await create(api, buyer, saved_id), "createRecurringOrder")["recurringOrder"]
    sid = schedule["id"]
    paused = succeeded(await change(api, buyer, "pauseRecurringOrder", sid), "pauseRecurringOrder")["recurringOrder"]
    assert (paused["status"], paused["nextRunAt"], paused["upcoming"]) == ("PAUSED", None, [])
    assert outcome(await change(api, buyer, "pauseRecurringOrder", sid), "pauseRecurringOrder") == "INVALID_STATE"
    resumed = succeeded(await change(api, buyer, "resumeRecurringOrder", sid), "resumeRecurringOrder")
    assert resumed["recurringOrder"]["status"] == "ACTIVE"
    assert parsed(resumed["recurringOrder"]["nextRunAt"]) > datetime.now(UTC)
    changed = succeeded(await change(api, buyer, "updateRecurringOrder", sid, "UpdateRecurringOrderInput",
                                     schedule="FREQ=MONTHLY;BYMONTHDAY=1", name="Monthly milk", reference="Store"),
                        "updateRecurringOrder")["recurringOrder"]
    assert (changed["schedule"], changed["name"], changed["reference"]) == ("FREQ=MONTHLY;BYMONTHDAY=1",
                                                                          "Monthly milk", "Store")
    assert parsed(changed["nextRunAt"]).astimezone(OSLO).day == 1
    bad = await change(api, buyer, "updateRecurringOrder", sid, "UpdateRecurringOrderInput", schedule="FREQ=HOURLY")
    assert outcome(bad, "updateRecurringOrder") == "INVALID_INPUT"
    cancelled = succeeded(await change(api, buyer, "cancelRecurringOrder", sid), "cancelRecurringOrder")
    assert (cancelled["recurringOrder"]["status"], cancelled["recurringOrder"]["nextRunAt"]) == ("CANCELLED", None)
    for name in ("resumeRecurringOrder", "cancelRecurringOrder", "pauseRecurringOrder"):
        assert outcome(await change(api, buyer, name, sid), name) == "INVALID_STATE"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER])
async def test_administrators_and_managers_manage_any_of_the_companys(api, services, role):
    tenant, buyer, saved_id = await setup(api, services)
    sid = succeeded(await create(api, buyer, saved_id), "createRecurringOrder")["recurringOrder"]["id"]
    listed = (await api.query(LIST, {"f": {"buyerId": gid("User", buyer.membership_id)}},
                              token=tenant[role].token))["recurringOrders"]["edges"]
    assert [e["node"]["id"] for e in listed] == [sid]
    paused = await change(api, tenant[role], "pauseRecurringOrder", sid)
    assert succeeded(paused, "pauseRecurringOrder")["recurringOrder"]["status"] == "PAUSED"


@pytest.mark.parametrize("role", [Role.ORDER_APPROVER, Role.ACCOUNTANT])
async def test_others_neither_see_nor_change_a_buyers_schedule(api, services, role):
    tenant, buyer, saved_id = await setup(api, services)
    sid = succeeded(await create(api, buyer, saved_id), "createRecurringOrder")["recurringOrder"]["id"]
    before = await snapshot(services)
    for name in ("pauseRecurringOrder", "cancelRecurringOrder"):
        assert outcome(await change(api, tenant[role], name, sid), name) in {"NOT_FOUND", "FORBIDDEN"}
    body = await api.raw(LIST, None, tenant[role].token)
    assert body.get("errors") or body["data"]["recurringOrders"]["edges"] == []
    assert await snapshot(services) == before


async def test_another_companys_schedule_is_not_found(api, services):
    _, buyer, saved_id = await setup(api, services)
    sid = succeeded(await create(api, buyer, saved_id), "createRecurringOrder")["recurringOrder"]["id"]
    stranger = (await shop(api, [Role.ADMIN]))[Role.ADMIN]
    assert outcome(await change(api, stranger, "cancelRecurringOrder", sid), "cancelRecurringOrder") == "NOT_FOUND"


async def test_a_deactivated_buyers_schedules_stop(api, services):
    tenant, buyer, saved_id = await setup(api, services)
    sid = succeeded(await create(api, buyer, saved_id), "createRecurringOrder")["recurringOrder"]["id"]
    body = await api.mutate("deactivateUser", "UserIdInput", "__typename ... on MutationError { code }",
                            {"id": gid("User", buyer.membership_id)}, tenant[Role.ADMIN].token)
    assert "errors" not in body and body["data"]["deactivateUser"]["__typename"] != "MutationError", body
    async with services.db.read_sessions() as session:
        stored = await session.get(RecurringOrder, pk_of(sid))
        assert (stored.status, stored.next_run_at) == ("stopped", None)
    assert await session_rows(services) == 1


async def session_rows(services) -> int:
    async with services.db.read_sessions() as session:
        return len((await session.scalars(select(RecurringOrder.id))).all())
