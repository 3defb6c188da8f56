"""Delivering webhooks: one signed POST per attempt, the delivery log, back-off, redelivery, disabling.

An attempt (job DELIVER_KIND, `{"delivery_id", "attempt"}`) signs the stored payload by the Standard
Webhooks specification with the endpoint's secret (and the previous one during a rotation), POSTs it to
the checked address (resolvers/webhook_address.py), follows no redirect, and waits at most
CONNECT_TIMEOUT to connect and TOTAL_TIMEOUT in all. A 2xx answer delivers it; anything else is logged
and retried after models.webhook.RETRY_DELAYS, and after the last attempt the delivery has failed. No
transaction is open while the request is out: the attempt is recorded afterwards, conditionally on the
delivery still waiting for that very attempt, so a job that runs twice (a worker that died after the
POST) posts twice and records once; receivers drop duplicates by `webhook-id`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from secrets import token_hex

import httpx
import structlog
from sqlalchemy import delete, func, select
from standardwebhooks.webhooks import Webhook

from models import Membership, MembershipStatus, Role, User, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from models.db import Database
from models.errors import DomainError, ErrorCode
from models.webhook import DeliveryStatus, retry_delay, should_disable
from policies.scopes import company_rows, cross_company
from resolvers.audit import audit
from resolvers.context import Services, UseCaseContext
from resolvers.jobs import ClaimedJob, enqueue
from resolvers.mail import queue_mail
from resolvers.pagination import Page, check_page_size
from resolvers.webhook import audited, signing_secrets, webhook_manager
from resolvers.webhook_address import AddressRefused, target
from resolvers.webhook_dispatch import DELIVER_JOB_ATTEMPTS, DELIVER_KIND, deliver_job_key

log = structlog.get_logger("procura.webhooks")

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0  # resolving, connecting, sending and the answer's status line
USER_AGENT = "Procura-Webhooks/1.0"
QUEUED = "a queued delivery, by the id its job names (the worker acts for no company)"
LOG_RETENTION = "retention: every company's deliveries older than the log is kept"


# --- the delivery log ------------------------------------------------------------------------------------

async def delivery_pages(
    ctx: UseCaseContext, endpoint_ids: list[int], *, first: int, after: int | None,
) -> dict[int, Page[WebhookDelivery]]:
    """The newest `first` deliveries (after the cursor) of each endpoint, in one statement whatever the
    number of endpoints."""
    actor = webhook_manager(ctx)
    check_page_size(first, ctx.settings.max_page_size)
    pages: dict[int, Page[WebhookDelivery]] = {pk: Page([], False, after is not None) for pk in endpoint_ids}
    if not endpoint_ids:
        return pages
    rank = func.row_number().over(partition_by=WebhookDelivery.endpoint_id, order_by=WebhookDelivery.id.desc())
    ranked = company_rows(WebhookDelivery, actor, WebhookDelivery.id, rank.label("rank")).where(
        WebhookDelivery.endpoint_id.in_(endpoint_ids))
    if after is not None:
        ranked = ranked.where(WebhookDelivery.id < after)
    picked = ranked.subquery("picked")
    rows = (await ctx.session.scalars(
        company_rows(WebhookDelivery, actor).join(picked, picked.c.id == WebhookDelivery.id)
        .where(picked.c.rank <= first + 1).order_by(WebhookDelivery.endpoint_id, WebhookDelivery.id.desc()))).all()
    grouped: dict[int, list[WebhookDelivery]] = defaultdict(list)
    for delivery in rows:
        grouped[delivery.endpoint_id].append(delivery)
    for pk, deliveries in grouped.items():
        pages[pk] = Page(deliveries[:first], len(deliveries) > first, after is not None)
    return pages


async def attempts_of(ctx: UseCaseContext, deliveries: list[WebhookDelivery]) -> dict[int, list[WebhookAttempt]]:
    """The attempt log of deliveries read through a scope, oldest first, in one statement."""
    found: dict[int, list[WebhookAttempt]] = defaultdict(list)
    if deliveries:
        rows = await ctx.session.scalars(
            select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id))
        for attempt in rows.all():
            found[attempt.delivery_id].append(attempt)
    return found


async def get_delivery(ctx: UseCaseContext, delivery_id: int) -> WebhookDelivery | None:
    actor = webhook_manager(ctx)
    return await ctx.session.scalar(company_rows(WebhookDelivery, actor).where(WebhookDelivery.id == delivery_id))


async def redeliver(ctx: UseCaseContext, *, delivery_id: int) -> WebhookDelivery:
    """One more attempt now, with the same `webhook-id` (whatever became of the earlier ones); if it fails,
    the back-off schedule goes on from the attempts made."""
    actor = webhook_manager(ctx)
    delivery = await ctx.session.scalar(
        company_rows(WebhookDelivery, actor).where(WebhookDelivery.id == delivery_id).with_for_update())
    if delivery is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such webhook delivery", "deliveryId")
    endpoint = await ctx.session.scalar(
        company_rows(WebhookEndpoint, delivery).where(WebhookEndpoint.id == delivery.endpoint_id))
    if endpoint is None or not endpoint.enabled:
        raise DomainError(ErrorCode.INVALID_STATE, "The endpoint is disabled: enable it before redelivering")
    attempt, now = delivery.attempts + 1, utcnow()
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING.value, now
    # A key of its own: an automatic retry of the same attempt may be queued for later; whichever runs
    # first makes the attempt, and the other finds it made.
    await enqueue(ctx.session, DELIVER_KIND, f"{deliver_job_key(delivery.id, attempt)}:redeliver:{token_hex(6)}",
                  {"delivery_id": delivery.id, "attempt": attempt}, run_at=now, max_attempts=DELIVER_JOB_ATTEMPTS)
    await ctx.session.flush()
    return delivery


# --- an attempt ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature_headers(secrets: list[str], message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one `v1,` signature per secret, separated by spaces."""
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signatures}


@cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


async def post(url: str, body: str, headers: dict[str, str], *, private_allowed: bool) -> Outcome:
    """POST `body` to `url` at an address checked just now; never raises for the receiver's sake."""
    started = time.monotonic()
    status_code, error = None, None
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT):
            checked = await target(url, private_allowed=private_allowed)
            address = f"[{checked.address}]" if checked.address.version == 6 else str(checked.address)
            default_port = 443 if checked.url.scheme == "https" else 80
            name = f"[{checked.host}]" if ":" in checked.host else checked.host  # an IPv6 literal
            host = name if checked.port == default_port else f"{name}:{checked.port}"
            pinned = checked.url._replace(netloc=f"{address}:{checked.port}").geturl()
            extensions = {"sni_hostname": checked.host} if checked.url.scheme == "https" else {}
            async with httpx.AsyncClient(
                timeout=httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT), follow_redirects=False,
                trust_env=False, verify=_tls(),
            ) as client:
                request = client.build_request(
                    "POST", pinned, content=body.encode(), extensions=extensions,
                    headers={**headers, "host": host, "content-type": "application/json", "user-agent": USER_AGENT})
                response = await client.send(request, stream=True)  # the answer's body is never read
                status_code = response.status_code
                await response.aclose()
    except AddressRefused as refused:
        error = str(refused)
    except TimeoutError:
        error = f"No answer within {TOTAL_TIMEOUT:.0f} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    if status_code is not None and not 200 <= status_code < 300:
        error = f"HTTP {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
    return Outcome(status_code, error and error[:500], int((time.monotonic() - started) * 1000))


async def deliver_job(services: Services, job: ClaimedJob) -> None:
    """The worker's handler for DELIVER_KIND."""
    await attempt_delivery(services, int(job.payload["delivery_id"]), int(job.payload["attempt"]))


async def attempt_delivery(services: Services, delivery_id: int, attempt: int) -> str:
    """Make attempt number `attempt` of a delivery, unless it was made already; returns what happened:
    "delivered", "retry", "failed", "skipped"."""
    async with services.db.read_sessions() as session:
        found = (await session.execute(cross_company(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id), QUEUED))).first()
    if found is None:
        return "skipped"  # deleted with its endpoint
    delivery, endpoint = found
    if delivery.status != DeliveryStatus.PENDING.value or delivery.attempts != attempt - 1:
        return "skipped"  # this attempt was made already
    if not endpoint.enabled:
        outcome = Outcome(None, "Not sent: the endpoint is disabled", 0)
        return await _record(services, delivery_id, attempt, outcome, sent=False)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
    headers = signature_headers(signing_secrets(endpoint), delivery.message_id, body, datetime.now(UTC))
    outcome = await post(endpoint.url, body, headers,
                         private_allowed=services.settings.webhooks_reach_private_networks)
    log.info("webhook_attempt", delivery_id=delivery_id, attempt=attempt, status_code=outcome.status_code,
             error=outcome.error, duration_ms=outcome.duration_ms)
    return await _record(services, delivery_id, attempt, outcome, sent=True)


async def _record(services: Services, delivery_id: int, attempt: int, outcome: Outcome, *, sent: bool) -> str:
    async with services.db.write_sessions() as session:
        await session.begin()
        ctx = UseCaseContext(services=services, session=session, actor=None)
        delivery = await session.scalar(cross_company(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.attempts == attempt - 1).with_for_update(),
            QUEUED))
        if delivery is None:
            return "skipped"  # recorded by another run of the same attempt meanwhile
        endpoint = await session.scalar(
            company_rows(WebhookEndpoint, delivery).where(WebhookEndpoint.id == delivery.endpoint_id).with_for_update())
        result = await _apply(ctx, delivery, endpoint, attempt, outcome, sent=sent)
        await session.commit()
    services.mailer.deliver_soon(ctx.queued_mail)
    return result


async def _apply(
    ctx: UseCaseContext, delivery: WebhookDelivery, endpoint: WebhookEndpoint, attempt: int, outcome: Outcome,
    *, sent: bool,
) -> str:
    now = utcnow()
    if sent:
        ctx.session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now, response_code=outcome.status_code,
                                       error=outcome.error, duration_ms=outcome.duration_ms))
        delivery.attempts = attempt
    delivery.last_response_code, delivery.last_error = outcome.status_code, outcome.error
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED.value, now, None
        endpoint.consecutive_failures = 0
        return "delivered"
    if sent:
        endpoint.consecutive_failures += 1
    delay = retry_delay(attempt)
    if delay is not None and endpoint.enabled:
        delivery.next_attempt_at = now + delay
        await enqueue(ctx.session, DELIVER_KIND, deliver_job_key(delivery.id, attempt + 1),
                      {"delivery_id": delivery.id, "attempt": attempt + 1}, run_at=delivery.next_attempt_at,
                      max_attempts=DELIVER_JOB_ATTEMPTS)
        return "retry"
    delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
    if endpoint.enabled and should_disable(endpoint.consecutive_failures, True):
        await _disable(ctx, endpoint, outcome)
    return "failed"


async def _disable(ctx: UseCaseContext, endpoint: WebhookEndpoint, outcome: Outcome) -> None:
    """Turn off an endpoint that failed every attempt for more than a day, and tell the company's administrators."""
    before = audited(endpoint)
    last = outcome.error or f"HTTP {outcome.status_code}"
    endpoint.enabled, endpoint.updated_at = False, utcnow()
    endpoint.disabled_reason = (f"Disabled automatically after {endpoint.consecutive_failures} failed attempts "
                                f"in a row (the last: {last})")[:300]
    await audit(ctx, "webhook_endpoint", endpoint.id, "disable", before=before, after=audited(endpoint),
                company_id=endpoint.company_id)
    admins = await ctx.session.scalars(
        company_rows(Membership, endpoint, User.email).join(User, User.id == Membership.user_id)
        .where(Membership.role == Role.ADMIN.value, Membership.status == MembershipStatus.ACTIVE.value)
        .order_by(Membership.id))
    for email in admins.all():
        await queue_mail(
            ctx, to=email, subject="A webhook endpoint was disabled",
            body=(f"Hello,\n\nProcura stopped sending webhooks to {endpoint.url}: every attempt to deliver to it "
                  f"failed for more than a day ({endpoint.consecutive_failures} attempts in a row; the last: "
                  f"{last}).\n\nEvents that happen while it is disabled are not sent to it. When the receiver works "
                  "again, enable the endpoint (updateWebhookEndpoint with enabled: true) and redeliver what it "
                  f"missed from its delivery log (redeliverWebhook).\n\nSign in: {ctx.settings.public_url}\n"))



# --- retention of the log --------------------------------------------------------------------------------

PRUNE_KIND = "webhook.prune"
LOG_DAYS = 90  # deliveries (and their attempts) are kept this long, unless still pending
PRUNE_BATCH = 5000


async def prune_log(db: Database, before: datetime, *, days: int = LOG_DAYS) -> int:
    """Delete the deliveries created more than `days` before `before` that are no longer pending (their
    attempts go with them), in batches, each in its own transaction; returns how many were deleted."""
    cutoff = before - timedelta(days=days)
    deleted = 0
    while True:
        async with db.transaction() as session:
            ids = (await session.scalars(cross_company(
                select(WebhookDelivery.id).where(WebhookDelivery.created_at < cutoff,
                                                 WebhookDelivery.status != DeliveryStatus.PENDING.value)
                .limit(PRUNE_BATCH), LOG_RETENTION))).all()
            if ids:
                await session.execute(cross_company(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)),
                                                    LOG_RETENTION))
        deleted += len(ids)
        if len(ids) < PRUNE_BATCH:
            return deleted


async def prune_job(services: Services, job: ClaimedJob) -> None:
    """The worker's daily run: as of the run's slot, so that a rerun of the slot deletes nothing more."""
    await prune_log(services.db, datetime.fromisoformat(job.payload["slot"]))
