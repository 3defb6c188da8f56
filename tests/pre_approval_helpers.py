"""Pre-approvals in the role matrix's world (tests/policies/world.py): built with the application's own use case."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from models.base import utcnow
from resolvers import pre_approval


async def world_pre_approvals(w) -> None:
    """Per company, the target's pre-approval; and the caller's own, when the caller places orders."""
    from tests.policies.world import run_as

    ask = partial(pre_approval.request_pre_approval, amount_minor=500_00, purpose="Team event",
                  valid_until=utcnow() + timedelta(days=30), cost_centre_id=None)
    for side in (w.own, w.other):
        side.values["pre_approval"] = (await run_as(w, side.target, ask)).pre_approval.id
    if w.caller in ("admin", "manager", "customer"):
        w.values["pre_approval"] = (await run_as(w, w.own.members[w.caller], ask)).pre_approval.id
