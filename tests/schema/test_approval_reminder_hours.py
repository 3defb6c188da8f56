"""A company's own approval reminder period: set by administrators (setApprovalReminderHours, 1..720 hours, null
resets, audited), read as Company.approvalReminderHours (the effective value), and used by the reminder run."""

from __future__ import annotations

from datetime import timedelta

from models import Role
from models.base import utcnow
from resolvers.approval_reminder import remind_waiting_steps
from tests.schema import test_mail
from tests.schema.test_approval_mail import set_step, waiting_order
from tests.schema.test_mail import delivered
from tests.spend_helpers import audit_rows, ok, spend_tenant, steps

smtp_server, smtp, settings = test_mail.smtp_server, test_mail.smtp, test_mail.settings
HOUR = timedelta(hours=1)
COMPANY = "{ company { approvalReminderHours } }"
SET = """mutation($input: SetApprovalReminderHoursInput!) { setApprovalReminderHours(input: $input) { __typename
  ... on UpdateCompanyPayload { company { approvalReminderHours } } ... on MutationError { code message field } } }"""


async def set_hours(api, token, hours) -> dict:
    return (await api.query(SET, {"input": {"hours": hours}}, token))["setApprovalReminderHours"]


async def test_administrators_set_the_period_and_null_resets_it(api, services):
    st = await spend_tenant(api)
    admin = st[Role.ADMIN]
    assert (await api.query(COMPANY, token=admin.token))["company"]["approvalReminderHours"] == 48.0

    assert (await set_hours(api, admin.token, 12))["company"] == {"approvalReminderHours": 12.0}
    assert (await api.query(COMPANY, token=st[Role.CUSTOMER].token))["company"]["approvalReminderHours"] == 12.0
    for hours in (0, -1, 721):
        refused = await set_hours(api, admin.token, hours)
        assert (refused["code"], refused["field"]) == ("INVALID_INPUT", "hours"), refused
    assert (await set_hours(api, admin.token, 720))["company"] == {"approvalReminderHours": 720.0}
    assert (await set_hours(api, admin.token, None))["company"] == {"approvalReminderHours": 48.0}

    entries = [e for e in await audit_rows(services, st.company_id) if e.action == "set_approval_reminder_hours"]
    assert [(e.before, e.after) for e in entries] == [
        ({"hours": None}, {"hours": 12}), ({"hours": 12}, {"hours": 720}), ({"hours": 720}, {"hours": None})]
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        assert await call_set(api, st[role].token) == "FORBIDDEN"


async def call_set(api, token) -> str:
    """The error code of a refused setApprovalReminderHours (FORBIDDEN is a top-level error)."""
    body = await api.mutate("setApprovalReminderHours", "SetApprovalReminderHoursInput", "__typename", {"hours": 5},
                            token)
    return body["errors"][0]["extensions"]["code"]


async def test_the_reminder_run_follows_each_companys_own_period(api, services, smtp):
    quick, slow = await spend_tenant(api), await spend_tenant(api)
    await set_hours(api, quick[Role.ADMIN].token, 2)
    quick_order = await waiting_order(api, services, quick)
    slow_order = await waiting_order(api, services, slow)
    for st in (quick, slow):
        await delivered(services, smtp, st[Role.ORDER_APPROVER].email)
    for order in (quick_order, slow_order):
        await set_step(services, order["id"], waiting_since=utcnow() - 3 * HOUR)

    # 3 hours: the company with 2 hours is reminded, the other (the installation's 48) is not.
    assert await remind_waiting_steps(services, now=utcnow()) == (1, 0)
    [quick_step] = await steps(services, quick_order["id"])
    [slow_step] = await steps(services, slow_order["id"])
    assert quick_step.reminded_at is not None and slow_step.reminded_at is None
    # As long again after the reminder: escalated.
    assert await remind_waiting_steps(services, now=quick_step.reminded_at + 2 * HOUR) == (0, 1)
    assert await remind_waiting_steps(services, now=utcnow() + 46 * HOUR) == (1, 0)  # the slow one, at 49 hours
    await ok(api, "approveOrder", {"id": slow_order["id"], "comment": ""}, slow[Role.ORDER_APPROVER].token)
