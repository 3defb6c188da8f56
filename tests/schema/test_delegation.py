"""Delegation while away, through the API: an approver's absence with a substitute, who is offered what the
absent approver could decide while it holds (and only then), decides it on their behalf (recorded on the
step, in the timeline and in the audit log), gets the approval emails, and never decides their own order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models import ApprovalDelegation, AuditEntry, Role
from tests.factories import Member
from tests.spend_helpers import (
    ERROR,
    SpendTenant,
    add_member,
    create_product,
    outbox,
    placed,
    rule,
    spend_tenant,
    steps,
    tier,
)

DELEGATION = "id approverId approverName delegateId delegateName from until cancelledAt active"
SET = f"""mutation($input: SetApprovalDelegateInput!) {{ setApprovalDelegate(input: $input) {{ __typename
  ... on ApprovalDelegationPayload {{ delegation {{ {DELEGATION} }} }} {ERROR} }} }}"""
CANCEL = f"""mutation($input: CancelApprovalDelegationInput!) {{ cancelApprovalDelegation(input: $input) {{ __typename
  ... on ApprovalDelegationPayload {{ delegation {{ {DELEGATION} }} }} {ERROR} }} }}"""
LIST = f"query($all: Boolean!) {{ approvalDelegations(includeEnded: $all) {{ {DELEGATION} }} }}"
QUEUE = "{ approvalQueue(first: 50) { edges { node { order { id } } } } }"
DECIDE = f"""mutation($input: DecideOrderInput!) {{ approveOrder(input: $input) {{ __typename
  ... on OrderPayload {{ order {{ id status timeline {{ kind comment actorName }} }} }} {ERROR} }} }}"""
REJECT = DECIDE.replace("approveOrder", "rejectOrder")


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat().replace("+00:00", "Z")


async def set_delegate(api, token: str | None, **input) -> dict:
    input.setdefault("until", at(timedelta(days=3)))
    return (await api.query(SET, {"input": input}, token))["setApprovalDelegate"]


async def queue_ids(api, token: str | None) -> list[str]:
    return [e["node"]["order"]["id"] for e in (await api.query(QUEUE, token=token))["approvalQueue"]["edges"]]


async def approve(api, token: str | None, order_gid: str, comment: str = "") -> dict:
    return (await api.query(DECIDE, {"input": {"id": order_gid, "comment": comment}}, token))["approveOrder"]


async def named_rule_tenant(api, services) -> tuple[SpendTenant, Member, str]:
    """A company whose every order waits for its order approver by name, a substitute who also approves
    orders (but is not named), and a product."""
    st = await spend_tenant(api)
    deputy = await add_member(api, st, Role.ORDER_APPROVER, first_name="Dora")
    approver = st[Role.ORDER_APPROVER]
    await rule(api, st, name="Every order", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier(users=(approver.gid,))])
    return st, deputy, await create_product(services, net_minor=80_00)


async def test_a_substitute_decides_for_an_absent_approver_on_their_behalf(api, services):
    st, deputy, product = await named_rule_tenant(api, services)
    approver = st[Role.ORDER_APPROVER]
    order = await placed(api, st[Role.CUSTOMER], product)
    # Not theirs to decide before the absence.
    assert await queue_ids(api, deputy.token) == []
    assert (await approve(api, deputy.token, order["id"]))["code"] == "NOT_AN_APPROVER"
    assert [r for r, _ in await outbox(services) if r == deputy.email] == []

    set_ = await set_delegate(api, approver.token, delegateId=deputy.gid)
    delegation = set_["delegation"]
    assert (delegation["approverId"], delegation["approverName"], delegation["delegateId"],
            delegation["delegateName"], delegation["active"]) == (
        approver.gid, "Test Order_Approver", deputy.gid, "Dora Order_Approver", True)

    assert await queue_ids(api, deputy.token) == [order["id"]]
    assert await queue_ids(api, approver.token) == [order["id"]]  # the absent approver still may
    decided = await approve(api, deputy.token, order["id"], "Fine")
    assert decided["__typename"] == "OrderPayload", decided
    assert decided["order"]["status"] == "APPROVED"
    assert decided["order"]["timeline"][-1] == {
        "kind": "APPROVE", "comment": "Fine (on behalf of Test Order_Approver)", "actorName": "Dora Order_Approver"}
    (step,) = await steps(services, order["id"])
    assert (step.decided_by_id, step.on_behalf_of_id, step.comment) == (
        deputy.membership_id, approver.membership_id, "Fine")
    async with services.db.read_sessions() as session:
        entry = await session.scalar(select(AuditEntry).where(
            AuditEntry.company_id == st.company_id, AuditEntry.entity == "order", AuditEntry.action == "approve"))
    assert entry.actor_user_id == deputy.user_id
    assert entry.after["on_behalf_of"] == ["Test Order_Approver"]

    # While the absence holds, approval requests go to the substitute too; a rejection says on whose behalf.
    second = await placed(api, st[Role.CUSTOMER], product)
    assert {r for r, _ in await outbox(services)} >= {deputy.email, approver.email}
    assert second["status"] == "PENDING_APPROVAL"
    assert await queue_ids(api, deputy.token) == [second["id"]]
    body = {"input": {"id": second["id"], "comment": "Too much"}}
    rejected = (await api.query(REJECT, body, deputy.token))["rejectOrder"]
    assert rejected["__typename"] == "OrderPayload", rejected
    assert rejected["order"]["timeline"][-1]["comment"] == "Too much (on behalf of Test Order_Approver)"


async def test_outside_the_window_the_substitute_cannot_decide(api, services):
    st, deputy, product = await named_rule_tenant(api, services)
    approver = st[Role.ORDER_APPROVER]
    order = await placed(api, st[Role.CUSTOMER], product)
    later = await set_delegate(api, approver.token, delegateId=deputy.gid, **{
        "from": at(timedelta(days=1)), "until": at(timedelta(days=2))})
    assert later["delegation"]["active"] is False
    assert await queue_ids(api, deputy.token) == []
    assert (await approve(api, deputy.token, order["id"]))["code"] == "NOT_AN_APPROVER"
    mails_before = len(await outbox(services))
    await placed(api, st[Role.CUSTOMER], product)
    assert deputy.email not in [r for r, _ in (await outbox(services))[mails_before:]]

    # One that holds now replaces the overlapping one... and ends when cancelled.
    now = (await set_delegate(api, approver.token, delegateId=deputy.gid))["delegation"]
    assert await queue_ids(api, deputy.token) != []
    listed = (await api.query(LIST, {"all": True}, approver.token))["approvalDelegations"]
    assert [(d["id"], d["cancelledAt"] is not None) for d in listed] == [
        (now["id"], False), (later["delegation"]["id"], True)]
    # The substitute sees it but may not end it; the approver may.
    assert (await api.query(LIST, {"all": False}, deputy.token))["approvalDelegations"] == [now]
    refused = (await api.query(CANCEL, {"input": {"id": now["id"]}}, deputy.token))["cancelApprovalDelegation"]
    assert refused["code"] == "NOT_FOUND"
    ended = (await api.query(CANCEL, {"input": {"id": now["id"]}}, approver.token))["cancelApprovalDelegation"]
    assert (ended["delegation"]["active"], ended["delegation"]["cancelledAt"] is not None) == (False, True)
    assert await queue_ids(api, deputy.token) == []
    assert (await approve(api, deputy.token, order["id"]))["code"] == "NOT_AN_APPROVER"
    again = (await api.query(CANCEL, {"input": {"id": now["id"]}}, approver.token))["cancelApprovalDelegation"]
    assert (again["code"], again["field"]) == ("INVALID_STATE", "id")
    assert (await api.query(LIST, {"all": False}, approver.token))["approvalDelegations"] == []


async def test_a_substitute_never_decides_their_own_order(api, services):
    st, _, product = await named_rule_tenant(api, services)
    approver, admin = st[Role.ORDER_APPROVER], st[Role.ADMIN]
    await set_delegate(api, approver.token, delegateId=admin.gid)
    own = await placed(api, admin, product)
    others = await placed(api, st[Role.CUSTOMER], product)
    assert own["status"] == "PENDING_APPROVAL"
    assert (await approve(api, admin.token, own["id"]))["code"] == "SELF_APPROVAL"
    assert await queue_ids(api, admin.token) == [others["id"]]
    assert [s.decision for s in await steps(services, own["id"])] == [None]
    assert (await approve(api, admin.token, others["id"]))["order"]["status"] == "APPROVED"


async def test_a_substitute_never_decides_two_tiers_of_one_rule(api, services):
    st = await spend_tenant(api)
    approver, deputy = st[Role.ORDER_APPROVER], st[Role.ADMIN]
    await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier(users=(approver.gid,)), tier(users=(deputy.gid,))])
    product = await create_product(services, net_minor=80_00)
    order = await placed(api, st[Role.CUSTOMER], product)
    await set_delegate(api, approver.token, delegateId=deputy.gid)
    assert (await approve(api, deputy.token, order["id"]))["order"]["status"] == "PENDING_APPROVAL"
    # The second tier names the substitute, who decided the first (for the approver).
    assert (await approve(api, deputy.token, order["id"]))["code"] == "NOT_AN_APPROVER"
    assert [(s.level, s.decision, s.on_behalf_of_id) for s in await steps(services, order["id"])] == [
        (1, "approved", approver.membership_id), (2, None, None)]


async def test_an_administrator_sets_it_for_an_approver_and_only_they_may(api, services):
    st, deputy, product = await named_rule_tenant(api, services)
    approver, admin = st[Role.ORDER_APPROVER], st[Role.ADMIN]
    forbidden = await api.raw(SET, {"input": {"delegateId": deputy.gid, "approverId": admin.gid,
                                              "until": at(timedelta(days=1))}}, approver.token)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    set_ = await set_delegate(api, admin.token, delegateId=deputy.gid, approverId=approver.gid)
    assert (set_["delegation"]["approverId"], set_["delegation"]["delegateId"]) == (approver.gid, deputy.gid)
    async with services.db.read_sessions() as session:
        row = await session.scalar(select(ApprovalDelegation).where(ApprovalDelegation.company_id == st.company_id))
        entry = await session.scalar(select(AuditEntry).where(
            AuditEntry.company_id == st.company_id, AuditEntry.action == "set_approval_delegate"))
    assert (row.approver_id, row.delegate_id, row.created_by_id) == (
        approver.membership_id, deputy.membership_id, admin.membership_id)
    assert (entry.actor_user_id, entry.entity, entry.entity_id) == (admin.user_id, "user", approver.membership_id)
    order = await placed(api, st[Role.CUSTOMER], product)
    assert await queue_ids(api, deputy.token) == [order["id"]]
    # The administrator reads every absence of the company; a manager none.
    assert [d["id"] for d in (await api.query(LIST, {"all": False}, admin.token))["approvalDelegations"]] == [
        set_["delegation"]["id"]]
    body = await api.raw(LIST, {"all": False}, st[Role.MANAGER].token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_absences_are_refused_with_their_field(api, services):
    st, deputy, _ = await named_rule_tenant(api, services)
    other = await spend_tenant(api, [Role.ADMIN, Role.ORDER_APPROVER])
    approver = st[Role.ORDER_APPROVER]
    cases = [
        ({"delegateId": other[Role.ORDER_APPROVER].gid}, ("NOT_FOUND", "delegateId")),
        ({"delegateId": approver.gid}, ("INVALID_INPUT", "delegateId")),
        ({"delegateId": st[Role.CUSTOMER].gid}, ("INVALID_INPUT", "delegateId")),
        ({"delegateId": deputy.gid, "until": at(-timedelta(minutes=1))}, ("INVALID_INPUT", "until")),
        ({"delegateId": deputy.gid, "from": at(timedelta(days=2)), "until": at(timedelta(days=1))},
         ("INVALID_INPUT", "from")),
    ]
    for input, expected in cases:
        result = await set_delegate(api, approver.token, **input)
        assert (result["code"], result["field"]) == expected, input
    result = await set_delegate(api, st[Role.ADMIN].token, delegateId=deputy.gid,
                                approverId=other[Role.ORDER_APPROVER].gid)
    assert (result["code"], result["field"]) == ("NOT_FOUND", "approverId")
    result = await set_delegate(api, st[Role.ADMIN].token, delegateId=deputy.gid, approverId=st[Role.CUSTOMER].gid)
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "approverId")
    async with services.db.read_sessions() as session:
        assert (await session.scalars(select(ApprovalDelegation).where(
            ApprovalDelegation.company_id.in_([st.company_id, other.company_id])))).all() == []
