"""The page an emailed Approve or Reject link opens (`/approval?token=...`), and its confirmation (POST).

Unlike the other link pages, this one reads and writes on the server: it shows the order the link is about
(which needs the link's own authority, not a sign-in), and its form is an ordinary POST that works without
JavaScript. Opening it (GET or HEAD) only reads: mail scanners and link previews fetch links, so only the
confirmation decides (resolvers.approval_link).

The POST carries the link's token, which is the credential; there is no cookie, so there is no ambient
authority for another site to ride on. Still, a cross-site form post is refused (Sec-Fetch-Site, or an
Origin of another site): the confirmation is meant to be made on this page. The page's own post carries
`Origin: null` (its Referrer-Policy is no-referrer), which is accepted.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from pages import render_page
from resolvers.approval_link import (
    Action,
    LinkDecisionFailed,
    LinkResult,
    Outcome,
    decide_by_link,
    eligible_steps_of,
    inspect_link,
)
from resolvers.approval_mail import order_summary, waiting_steps
from resolvers.context import Services, UseCaseContext

MAX_REASON = 2000

STATUS = {
    Outcome.READY: 200, Outcome.APPROVED: 200, Outcome.REJECTED: 200, Outcome.REASON_REQUIRED: 422,
    Outcome.INVALID: 400, Outcome.EXPIRED: 410, Outcome.DECIDED_BY_YOU: 409, Outcome.DECIDED_BY_OTHER: 409,
    Outcome.SUPERSEDED: 409, Outcome.OWN_ORDER: 403, Outcome.TOO_MANY: 429,
}
HEADINGS = {
    Outcome.APPROVED: "Approved", Outcome.REJECTED: "Rejected", Outcome.INVALID: "This link is not valid",
    Outcome.EXPIRED: "This link has expired", Outcome.DECIDED_BY_YOU: "Already decided",
    Outcome.DECIDED_BY_OTHER: "Already decided", Outcome.SUPERSEDED: "This link no longer applies",
    Outcome.OWN_ORDER: "Not allowed", Outcome.TOO_MANY: "Too many attempts",
}


def _message(result: LinkResult) -> str:
    number = result.number
    outcome = result.outcome
    if outcome is Outcome.APPROVED:
        return f"You approved order {number}."
    if outcome is Outcome.REJECTED:
        return f"You rejected order {number}. The buyer is told, with your reason."
    if outcome is Outcome.DECIDED_BY_YOU:
        return f"You already {result.detail} order {number}. This link changes nothing more."
    if outcome is Outcome.DECIDED_BY_OTHER:
        return f"Another approver already {result.detail} order {number} at this step. This link changes nothing."
    if outcome is Outcome.SUPERSEDED:
        if result.detail == "approver":
            return "You can no longer decide orders with this link. Nothing was changed."
        if result.detail == "step":
            return (f"Order {number} no longer waits for you at this step: it has moved on, or you may no longer "
                    "decide it. Nothing was changed.")
        return (f"Order {number} no longer awaits approval (it is {result.detail.replace('_', ' ')}). "
                "Nothing was changed.")
    if outcome is Outcome.OWN_ORDER:
        return "You cannot decide your own order. Nothing was changed."
    if outcome is Outcome.EXPIRED:
        return "This link has expired. Nothing was changed; decide the order in your approval queue in Procura."
    if outcome is Outcome.TOO_MANY:
        return "Too many invalid links were sent from your address. Wait a moment and try again."
    if outcome is Outcome.REASON_REQUIRED:
        return "Give a reason for the rejection. Nothing was changed yet."
    return ("This link is not valid: it may be incomplete or altered. Nothing was changed. Open it again from "
            "your email, or decide the order in your approval queue in Procura.")


async def _summary(ctx: UseCaseContext, result: LinkResult) -> dict | None:
    """What the form shows: the order, and the steps the approver decides with it (as approveOrder would)."""
    if result.outcome not in (Outcome.READY, Outcome.REASON_REQUIRED) or result.order is None:
        return None
    assert result.actor is not None
    waiting = await waiting_steps(ctx, result.order)
    mine = set(await eligible_steps_of(ctx, result.actor, waiting))
    return await order_summary(ctx, result.order, [s for s in waiting if s.id in mine] or waiting)


def _page(services: Services, result: LinkResult, token: str, summary: dict | None, reason: str = "") -> HTMLResponse:
    ready = result.outcome in (Outcome.READY, Outcome.REASON_REQUIRED)
    reject = result.action is Action.REJECT
    heading = ("Reject order" if reject else "Approve order") if ready else HEADINGS[result.outcome]
    success = result.outcome in (Outcome.APPROVED, Outcome.REJECTED)
    return render_page(
        "approval.html", token=token or "-", heading=heading, summary=summary, reject=reject, reason=reason,
        reason_missing=result.outcome is Outcome.REASON_REQUIRED, success=success,
        message="" if result.outcome is Outcome.READY else _message(result),
        queue_url="" if ready else services.settings.public_url, status_code=STATUS[result.outcome])


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def open_link(request: Request) -> HTMLResponse:
    """GET (and HEAD): the order and the confirmation form, or why the link cannot decide. Reads only."""
    services: Services = request.app.state.services
    token = request.query_params.get("token", "")
    if not token:
        return render_page("approval.html", token="", heading="Approval", status_code=400)
    async with services.db.read_sessions() as session:
        ctx = UseCaseContext(services=services, session=session, actor=None, client_address=_address(request))
        result = await inspect_link(ctx, token)
        summary = await _summary(ctx, result)
    return _page(services, result, token, summary)


def _cross_site(request: Request, services: Services) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    own = {f"{request.url.scheme}://{request.url.netloc}", _origin(services.settings.public_url)}
    return origin.rstrip("/") not in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def confirm(request: Request) -> HTMLResponse:
    """POST: decide as the link says (with the reason), in one transaction; the page says what happened."""
    services: Services = request.app.state.services
    if _cross_site(request, services):
        return render_page("approval.html", token="-", heading="Not allowed", success=False, status_code=403,
                           message="This form can only be sent from its own page. Open the link from your email.")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return render_page("approval.html", token="-", heading="Not allowed", success=False, status_code=415,
                           message="Send the form from its page.")
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    token, reason = form.get("token", [""])[0], form.get("reason", [""])[0][:MAX_REASON]
    async with services.db.write_sessions() as session:
        await session.begin()
        ctx = UseCaseContext(services=services, session=session, actor=None, client_address=_address(request))
        try:
            result = await decide_by_link(ctx, token, reason)
            summary = await _summary(ctx, result)
            await session.commit()  # a decision, or only the count of a forged link (throttling)
        except LinkDecisionFailed as failed:
            await session.rollback()
            result, summary = failed.result, None
        except BaseException:
            await session.rollback()
            raise
    services.mailer.deliver_soon(ctx.queued_mail)
    services.broker.committed()  # live subscriptions read what this committed (SQLite has no NOTIFY)
    return _page(services, result, token, summary, reason)
