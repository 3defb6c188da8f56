"""The Approve and Reject links of approval emails, followed over HTTP through the ASGI app: taken from the mail a
real SMTP server received, opened (GET and HEAD never decide), confirmed (POST decides as approveOrder /
rejectOrder do), and every way a link is refused: reused, expired, forged, tampered with, an access token, another
approver's decision, a decided or superseded step, one's own order, a rejection without a reason, a cross-site
post, too many forged links. A substitute's link records on behalf of the absent approver."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from email.message import EmailMessage

import jwt
from sqlalchemy import func, select

from models import AuditEntry, LoginThrottle, Order, OrderApprovalStep, OrderEvent, OutboxMessage, Role
from models.base import utcnow
from resolvers import approval_link
from resolvers.approval_link import Action, LinkClaims
from resolvers.approval_reminder import remind_waiting_steps
from tests.schema import test_mail
from tests.schema.test_approval_mail import HOSTILE_REFERENCE, parts, set_step, waiting_order
from tests.schema.test_delegation import CANCEL, named_rule_tenant, set_delegate
from tests.schema.test_mail import PUBLIC_URL, delivered
from tests.spend_helpers import (
    add_member,
    create_product,
    ok,
    order_pk,
    placed,
    rule,
    set_member,
    spend_tenant,
    steps,
    tier,
)

# test_mail's real SMTP server and the settings that deliver through it (PUBLIC_URL https://procura.example).
smtp_server, smtp, settings = test_mail.smtp_server, test_mail.smtp, test_mail.settings
HOUR = timedelta(hours=1)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def links_of(message: EmailMessage) -> dict[str, str]:
    """The Approve and Reject tokens of an approval email (the text part), checked against the HTML part."""
    text, html = parts(message)
    found = dict(re.findall(rf"^(Approve|Reject): +{re.escape(PUBLIC_URL)}/approval\?token=([\w.-]+)$", text, re.M))
    assert set(found) == {"Approve", "Reject"}, text
    for token in found.values():
        assert f'href="{PUBLIC_URL}/approval?token={token}"' in html
    return {"approve": found["Approve"], "reject": found["Reject"]}


async def mailed_links(services, smtp, address: str, count: int = 1) -> dict[str, str]:
    return links_of((await delivered(services, smtp, address, count=count))[-1])


async def open_page(client, token: str, method: str = "GET"):
    return await client.request(method, "/approval", params={"token": token})


async def confirm(client, token: str, reason: str = "", headers: dict | None = None):
    return await client.post("/approval", data={"token": token, "reason": reason}, headers={**FORM, **(headers or {})})


async def snapshot(services) -> tuple:
    """Everything a decision (or a counted failure) would change."""
    async with services.db.read_sessions() as session:
        step_rows = (await session.execute(select(
            OrderApprovalStep.id, OrderApprovalStep.decision, OrderApprovalStep.decided_by_id,
            OrderApprovalStep.is_current, OrderApprovalStep.comment, OrderApprovalStep.on_behalf_of_id,
        ).order_by(OrderApprovalStep.id))).all()
        orders = (await session.execute(select(Order.id, Order.status, Order.updated_at).order_by(Order.id))).all()
        counts = [await session.scalar(select(func.count()).select_from(model))
                  for model in (OrderEvent, AuditEntry, OutboxMessage, LoginThrottle)]
    return step_rows, orders, counts


def sign(services, **claims) -> str:
    return approval_link.sign(services.settings, LinkClaims(**claims))


def text_of(response) -> str:
    return re.sub(r"\s+", " ", response.text)


async def test_an_emailed_approve_link_opens_a_page_that_decides_only_when_confirmed(api, services, smtp, client):
    st = await spend_tenant(api)
    order = await waiting_order(api, services, st, end_customer=True)
    approver = st[Role.ORDER_APPROVER]
    links = await mailed_links(services, smtp, approver.email)
    before = await snapshot(services)

    # Opening the link (a person, a mail scanner, a link preview) shows the order and a form; nothing changes.
    page = await open_page(client, links["approve"])
    assert page.status_code == 200
    for header, value in (("referrer-policy", "no-referrer"), ("cache-control", "no-store"),
                          ("x-frame-options", "DENY")):
        assert page.headers[header] == value
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    body = text_of(page)
    for expected in (f"Order <strong>{order['number']}</strong> of <strong>200.00 NOK</strong> waits for your decision",
                     "Astrid",
                     "Amount rule, tier 1", "800.00 of 1000.00 NOK left after it", "Comment (optional)",
                     f"Approve order {order['number']}</button>", 'method="post" action="approval"'):
        assert expected in body, (expected, body)
    assert f'name="token" value="{links["approve"]}"' in page.text
    # What the buyer typed is escaped in the page.
    assert "<script>" not in page.text and "&lt;script&gt;alert(&#34;ref&#34;)&lt;/script&gt; &amp; Co&#39;s" in body
    assert "&lt;b onclick=&#39;x()&#39;&gt;Nuts &amp; &#34;dairy&#34;&lt;/b&gt;" in body
    for method in ("GET", "HEAD", "GET"):
        assert (await open_page(client, links["approve"], method)).status_code == 200
    assert (await open_page(client, links["reject"])).status_code == 200
    assert await snapshot(services) == before

    # Confirming decides as approveOrder would: the step, the order, the timeline, the audit log, the buyer's mail.
    done = await confirm(client, links["approve"], "Fine by me")
    assert done.status_code == 200, done.text
    assert f"You approved order {order['number']}." in done.text
    [step] = await steps(services, order["id"])
    assert (step.decision, step.decided_by_id, step.comment) == ("approved", approver.membership_id, "Fine by me")
    async with services.db.read_sessions() as session:
        status = await session.scalar(select(Order.status).where(Order.id == order_pk(order["id"])))
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.entity == "order",
                                                               AuditEntry.action == "approve"))).all()
    assert status == "approved"
    assert [(a.actor_user_id, a.entity_id) for a in audit] == [(approver.user_id, order_pk(order["id"]))]
    [notice] = await delivered(services, smtp, st[Role.CUSTOMER].email)
    assert notice["Subject"] == f"Order {order['number']} was approved"

    # Single use: the step is decided, so this link (and the Reject link) says so and changes nothing.
    after = await snapshot(services)
    for token in (links["approve"], links["reject"]):
        again = await confirm(client, token, "Again")
        assert again.status_code == 409 and f"You already approved order {order['number']}" in again.text
        assert (await open_page(client, token)).status_code == 409
    assert await snapshot(services) == after


async def test_a_reject_link_needs_a_reason_and_then_rejects(api, services, smtp, client):
    st = await spend_tenant(api)
    order = await waiting_order(api, services, st)
    links = await mailed_links(services, smtp, st[Role.ORDER_APPROVER].email)
    page = await open_page(client, links["reject"])
    assert "Reason for rejecting (required)" in page.text and " required" in page.text
    assert f'class="danger">Reject order {order["number"]}</button>' in page.text
    before = await snapshot(services)

    for blank in ("", "   \n "):
        refused = await confirm(client, links["reject"], blank)
        assert refused.status_code == 422
        assert "Give a reason for the rejection" in refused.text and 'aria-invalid="true"' in refused.text
        assert f'name="token" value="{links["reject"]}"' in refused.text  # the form again, to fill in
    assert await snapshot(services) == before

    done = await confirm(client, links["reject"], "Too <expensive> & late")
    assert done.status_code == 200 and f"You rejected order {order['number']}." in done.text
    [step] = await steps(services, order["id"])
    assert (step.decision, step.comment) == ("rejected", "Too <expensive> & late")
    again = await confirm(client, links["approve"])
    assert again.status_code == 409 and "You already rejected" in again.text


async def test_expired_forged_tampered_and_access_tokens_are_refused_and_change_nothing(api, services, smtp, client):
    st = await spend_tenant(api)
    order = await waiting_order(api, services, st)
    approver = st[Role.ORDER_APPROVER]
    links = await mailed_links(services, smtp, approver.email)
    [step] = await steps(services, order["id"])
    claims = {"membership_id": approver.membership_id, "step_id": step.id, "order_id": step.order_id,
              "action": Action.APPROVE}

    expired = approval_link.sign(services.settings, LinkClaims(**claims), hours=-1)
    other_key = services.settings.model_copy(update={"jwt_secret": "another-secret-of-at-least-32-bytes-long"})
    forged = approval_link.sign(other_key, LinkClaims(**claims))
    header, payload, signature = links["approve"].split(".")
    original = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    def with_claims(**changes) -> str:
        """The approver's own link with claims changed and its signature kept."""
        body = json.dumps({**original, **changes}).encode()
        return ".".join([header, base64.urlsafe_b64encode(body).decode().rstrip("="), signature])

    # Another action, another approver (the administrator), a longer life: the signature no longer matches.
    tampered_links = [with_claims(act="reject"), with_claims(mid=st[Role.ADMIN].membership_id),
                      with_claims(exp=original["exp"] + 3600)]
    # Signed with the access tokens' key itself (not the links' derived one), with the links' audience.
    raw_key = jwt.encode(original, services.settings.jwt_secret, algorithm="HS256")
    unsigned = jwt.encode(original, None, algorithm="none")
    before = await snapshot(services)

    assert (await open_page(client, expired)).status_code == 410
    refused = await confirm(client, expired)
    assert refused.status_code == 410 and "This link has expired" in refused.text
    for token in (forged, *tampered_links, approver.token, raw_key, unsigned, "garbled", links["approve"][:-3]):
        page = await open_page(client, token)
        assert page.status_code == 400 and "This link is not valid" in page.text, token
        assert "<form" not in page.text
    assert await snapshot(services) == before
    for token in (forged, *tampered_links, approver.token, raw_key, unsigned):
        refused = await confirm(client, token)
        assert refused.status_code == 400 and "This link is not valid" in refused.text, token
    [after] = await steps(services, order["id"])
    assert (after.decision, after.is_current) == (None, True)
    # A link is no access token either.
    me = (await client.post("/graphql", json={"query": "{ me { email } }"},
                            headers={"Authorization": f"Bearer {links['approve']}"})).json()
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", me


async def test_forged_links_are_throttled_per_client_address(api, services, client):
    attempts = services.settings.login_free_failures_per_address + 2
    refused = [(await confirm(client, f"forged-{n}")).status_code for n in range(attempts)]
    assert refused[0] == 400 and refused[-1] == 429, refused
    assert "Too many invalid links" in (await confirm(client, "forged")).text


async def test_a_link_after_another_approver_decided_says_so(api, services, smtp, client):
    st = await spend_tenant(api)
    second = await add_member(api, st, Role.ORDER_APPROVER, first_name="Second")
    order = await waiting_order(api, services, st)
    first_links = await mailed_links(services, smtp, st[Role.ORDER_APPROVER].email)
    second_links = await mailed_links(services, smtp, second.email)
    assert first_links["approve"] != second_links["approve"]  # each approver's links are their own

    assert (await confirm(client, second_links["reject"], "No budget")).status_code == 200
    before = await snapshot(services)
    for token in (first_links["approve"], first_links["reject"]):
        late = await confirm(client, token, "Me too")
        assert late.status_code == 409, late.text
        assert f"Another approver already rejected order {order['number']} at this step" in late.text
    assert await snapshot(services) == before
    [step] = await steps(services, order["id"])
    assert step.decided_by_id == second.membership_id  # the first approver's link never acted for them


async def test_a_link_for_a_step_decided_in_the_api_says_you_decided_it(api, services, smtp, client):
    st = await spend_tenant(api)
    approver = st[Role.ORDER_APPROVER]
    order = await waiting_order(api, services, st)
    links = await mailed_links(services, smtp, approver.email)
    await ok(api, "approveOrder", {"id": order["id"], "comment": ""}, approver.token)
    page = await open_page(client, links["reject"])
    assert page.status_code == 409 and "You already approved order" in page.text


async def test_superseded_links_change_nothing(api, services, smtp, client):
    st = await spend_tenant(api)
    approver, admin, buyer = st[Role.ORDER_APPROVER], st[Role.ADMIN], st[Role.CUSTOMER]
    await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0.00",
               tiers=[tier("ORDER_APPROVER"), tier("ADMIN")])
    product = await create_product(services, net_minor=80_00)
    order = await placed(api, buyer, product, 1)
    _, tier2 = await steps(services, order["id"])
    links = await mailed_links(services, smtp, approver.email)

    # A (validly signed) link of the next tier before it is current: it does not wait for anyone yet.
    early = sign(services, membership_id=admin.membership_id, step_id=tier2.id, order_id=tier2.order_id,
                 action=Action.APPROVE)
    before = await snapshot(services)
    refused = await confirm(client, early)
    assert refused.status_code == 409 and "no longer waits for you at this step" in refused.text
    assert await snapshot(services) == before

    # The approver's role changes: their link no longer applies.
    await set_member(services, approver.membership_id, role=Role.CUSTOMER.value)
    assert (await confirm(client, links["approve"])).status_code == 409
    await set_member(services, approver.membership_id, role=Role.ORDER_APPROVER.value)
    # Deactivated: no longer.
    await set_member(services, approver.membership_id, status="deactivated")
    gone = await confirm(client, links["approve"])
    assert gone.status_code == 409 and "You can no longer decide orders with this link" in gone.text
    await set_member(services, approver.membership_id, status="active")
    assert await snapshot(services) == before

    # Tier 1 approved through the link: the administrator is asked for tier 2, with links of their own.
    assert (await confirm(client, links["approve"])).status_code == 200
    admin_links = await mailed_links(services, smtp, admin.email)
    # The buyer cancels: the order left pending approval, so the administrator's link is superseded.
    await ok(api, "cancelOrder", {"id": order["id"], "reason": "Not needed"}, buyer.token)
    before = await snapshot(services)
    late = await confirm(client, admin_links["approve"])
    assert late.status_code == 409 and "no longer awaits approval (it is cancelled)" in late.text
    assert (await open_page(client, admin_links["reject"])).status_code == 409
    assert await snapshot(services) == before


async def test_a_link_for_ones_own_order_is_refused(api, services, smtp, client):
    st = await spend_tenant(api)
    order = await waiting_order(api, services, st)
    [step] = await steps(services, order["id"])
    own = sign(services, membership_id=st[Role.CUSTOMER].membership_id, step_id=step.id, order_id=step.order_id,
               action=Action.APPROVE)
    before = await snapshot(services)
    refused = await confirm(client, own)
    assert refused.status_code == 403 and "You cannot decide your own order" in refused.text
    assert await snapshot(services) == before


async def test_cross_site_and_non_form_posts_are_refused(api, services, smtp, client):
    st = await spend_tenant(api)
    await waiting_order(api, services, st)
    links = await mailed_links(services, smtp, st[Role.ORDER_APPROVER].email)
    before = await snapshot(services)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://evil.example"}):
        refused = await confirm(client, links["approve"], headers=headers)
        assert refused.status_code == 403 and "only be sent from its own page" in refused.text
    json_post = await client.post("/approval", json={"token": links["approve"]})
    assert json_post.status_code == 415
    assert await snapshot(services) == before
    # The page's own post: same origin (its Origin is "null" under Referrer-Policy: no-referrer).
    for headers in ({"Sec-Fetch-Site": "same-origin", "Origin": "null"},):
        assert (await confirm(client, links["approve"], headers=headers)).status_code == 200


async def test_a_substitutes_link_decides_on_behalf_of_the_absent_approver(api, services, smtp, client):
    st, deputy, product = await named_rule_tenant(api, services)
    approver = st[Role.ORDER_APPROVER]
    assert (await set_delegate(api, approver.token, delegateId=deputy.gid))["__typename"] != "MutationError"
    order = await placed(api, st[Role.CUSTOMER], product, 1)
    deputy_links = await mailed_links(services, smtp, deputy.email)
    approver_links = await mailed_links(services, smtp, approver.email)
    assert deputy_links != approver_links

    done = await confirm(client, deputy_links["approve"], "Covering")
    assert done.status_code == 200
    [step] = await steps(services, order["id"])
    assert (step.decided_by_id, step.on_behalf_of_id) == (deputy.membership_id, approver.membership_id)
    async with services.db.read_sessions() as session:
        comment = await session.scalar(select(OrderEvent.comment).where(
            OrderEvent.order_id == order_pk(order["id"]), OrderEvent.kind == "approve"))
    assert comment == "Covering (on behalf of Test Approver)" or "on behalf of" in (comment or "")
    late = await confirm(client, approver_links["approve"])
    assert late.status_code == 409 and "Another approver already approved" in late.text


async def test_a_substitutes_link_is_superseded_when_the_absence_ends(api, services, smtp, client):
    st, deputy, product = await named_rule_tenant(api, services)
    approver = st[Role.ORDER_APPROVER]
    delegation = await set_delegate(api, approver.token, delegateId=deputy.gid)
    order = await placed(api, st[Role.CUSTOMER], product, 1)
    deputy_links = await mailed_links(services, smtp, deputy.email)
    ended = (await api.query(CANCEL, {"input": {"id": delegation["delegation"]["id"]}}, approver.token))
    assert ended["cancelApprovalDelegation"]["__typename"] != "MutationError", ended
    refused = await confirm(client, deputy_links["approve"])
    assert refused.status_code == 409 and "no longer waits for you" in refused.text
    [step] = await steps(services, order["id"])
    assert step.decision is None


async def test_reminders_and_escalations_carry_links_also_to_an_absent_administrators_substitute(
    api, services, smtp, client,
):
    # The order waits for the approver by name; the deputy approves orders but is not named.
    st, deputy, product = await named_rule_tenant(api, services)
    admin, approver = st[Role.ADMIN], st[Role.ORDER_APPROVER]
    order = await placed(api, st[Role.CUSTOMER], product, 1)
    await delivered(services, smtp, approver.email)

    await set_step(services, order["id"], waiting_since=utcnow() - 49 * HOUR)
    assert await remind_waiting_steps(services, now=utcnow()) == (1, 0)
    reminder_links = await mailed_links(services, smtp, approver.email, count=2)

    # The administrator is away, with the deputy as their substitute: the escalation reaches the deputy too.
    assert (await set_delegate(api, admin.token, delegateId=deputy.gid))["__typename"] != "MutationError"
    [step] = await steps(services, order["id"])
    assert await remind_waiting_steps(services, now=step.reminded_at + 48 * HOUR) == (0, 1)
    admin_links = await mailed_links(services, smtp, admin.email)
    deputy_mail = (await delivered(services, smtp, deputy.email))[-1]
    assert deputy_mail["Subject"] == f"Order {order['number']} waits for a decision: you can decide it"
    deputy_links = links_of(deputy_mail)
    assert len({reminder_links["approve"], admin_links["approve"], deputy_links["approve"]}) == 3

    done = await confirm(client, deputy_links["approve"], "Escalated")
    assert done.status_code == 200, done.text
    [step] = await steps(services, order["id"])
    assert (step.decided_by_id, step.on_behalf_of_id) == (deputy.membership_id, admin.membership_id)
    assert (await confirm(client, reminder_links["approve"])).status_code == 409


async def test_a_page_without_a_token_says_the_link_is_incomplete(client):
    page = await client.get("/approval")
    assert page.status_code == 400 and "This link is incomplete" in page.text


async def test_the_escaped_reference_also_in_the_page_of_a_reject_link(api, services, smtp, client):
    st = await spend_tenant(api)
    await waiting_order(api, services, st)
    links = await mailed_links(services, smtp, st[Role.ORDER_APPROVER].email)
    page = await open_page(client, links["reject"])
    assert HOSTILE_REFERENCE not in page.text and "&lt;script&gt;" in page.text
