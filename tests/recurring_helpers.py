"""Recurring orders in the role matrix's world (tests/policies/world.py), built with the application's own use cases:
per company the target customer's active and paused schedule, and the caller's own when the caller places orders."""

from __future__ import annotations

from functools import partial

from models import RecurringStatus
from resolvers import cart, recurring_order, saved_cart
from resolvers.recurring_order import ScheduleSpec
from schema.relay import to_global_id

MISSING_PK = 999_999_999


async def _schedules(w, member, values: dict, prefix: str) -> None:
    from tests.policies.world import run_as

    await run_as(w, member, lambda ctx: cart.add_to_cart(
        ctx, product_id=w.catalogue.active, sku=None, quantity=1, substitution_allowed=None))
    saved, _ = await run_as(w, member, partial(saved_cart.save_cart, name=f"Standing {prefix} {member.membership_id}"))
    for key in (f"{prefix}recurring", f"{prefix}recurring_paused"):
        spec = ScheduleSpec(name=key, schedule="FREQ=WEEKLY;BYDAY=MO")
        schedule = await run_as(w, member, partial(recurring_order.create_recurring_order, saved_cart_id=saved.id,
                                                   spec=spec))
        values[key] = schedule.id
    await run_as(w, member, partial(recurring_order.pause_recurring_order,
                                    recurring_order_id=values[f"{prefix}recurring_paused"]))


async def world_recurring_orders(w) -> None:
    for side in (w.own, w.other):
        await _schedules(w, side.target, side.values, "")
    if w.caller in ("admin", "manager", "customer"):
        await _schedules(w, w.own.members[w.caller], w.values, "")


def recurring_gid(w, t: str) -> str:
    """own / own:paused: the caller's own; own:target(_paused), other:target(_paused): a company's target customer's."""
    side = w.side(t)
    if side is None:
        return to_global_id("RecurringOrder", MISSING_PK)
    variant = t.split(":")[1] if ":" in t else ""
    if variant in ("", "paused"):
        key = "recurring_paused" if variant == "paused" else "recurring"
        return to_global_id("RecurringOrder", w.values.get(key, MISSING_PK + 1))
    return to_global_id("RecurringOrder", side.values["recurring_paused" if variant.endswith("paused")
                                                      else "recurring"])


async def verify_recurring_orders(w, t: str, r: dict) -> None:
    ids = {edge["node"]["id"] for edge in r["edges"]}
    mine = {to_global_id("RecurringOrder", w.values[k]) for k in ("recurring", "recurring_paused") if k in w.values}
    target = {to_global_id("RecurringOrder", w.own.values[k]) for k in ("recurring", "recurring_paused")}
    assert ids == (mine | target if w.caller in ("admin", "manager") else mine)


def verify_recurring_status(status: RecurringStatus):
    async def verify(w, t: str, r: dict) -> None:
        assert (r["recurringOrder"]["id"], r["recurringOrder"]["status"]) == (recurring_gid(w, t), status.name)
    return verify


async def verify_created(w, t: str, r: dict) -> None:
    assert (r["recurringOrder"]["status"], r["recurringOrder"]["schedule"]) == ("ACTIVE", "FREQ=WEEKLY;BYDAY=FR")


def saved_gid(w, t: str) -> str:
    return to_global_id("SavedCart", w.values.get("saved", MISSING_PK))
