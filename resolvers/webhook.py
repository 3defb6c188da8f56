"""Webhook endpoints of a company: create, list, change, delete, and rotate the signing secret.

Requires `webhook:manage` (administrators, and API clients with the WEBHOOKS_MANAGE scope). A secret is
in the Standard Webhooks format (`whsec_` and 32 random bytes in base64) and is shown once, when it is
made; it is stored as it is, because signing needs it. Rotation keeps the old secret signing alongside
the new one for SECRET_OVERLAP, so that a receiver can switch without missing a delivery. Every change
of an endpoint is in the audit log (never the secret).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select

from models import Company, WebhookEndpoint
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.webhook import INVOICE_EVENTS, WebhookEvent
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_rows
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.pagination import Page, keyset_page
from resolvers.validation import clean_text
from resolvers.webhook_address import check_endpoint_url

MAX_ENDPOINTS = 20  # per company: every change is sent to each subscribed endpoint
SECRET_OVERLAP = timedelta(hours=24)
SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_manager(ctx: UseCaseContext) -> Actor:
    actor = ctx.require(Permission.WEBHOOK_MANAGE)
    # Every event carries a whole order, and the delivery log keeps what was sent: whoever manages the
    # company's webhooks must be allowed to read all its orders too (an API client: ORDERS_READ as well).
    ctx.require(Permission.ORDER_READ_ALL)
    return actor


def _events(ctx: UseCaseContext, events: Sequence[WebhookEvent]) -> list[str]:
    """The chosen events, each once, in the enum's order (so that the stored list has one spelling)."""
    chosen = set(events)
    if not chosen:
        raise DomainError(ErrorCode.INVALID_INPUT, "Choose at least one event", "events")
    if chosen & INVOICE_EVENTS:
        # An invoice event carries the invoice: only who may read the company's invoices subscribes to it.
        ctx.require(Permission.INVOICE_READ)
    return [event.value for event in WebhookEvent if event in chosen]


async def _checked(ctx: UseCaseContext, url: str) -> str:
    return await check_endpoint_url(url, private_allowed=ctx.settings.webhooks_reach_private_networks)


def _description(description: str | None) -> str:
    return clean_text(description, "description", 200, required=False) or ""


def audited(endpoint: WebhookEndpoint) -> dict:
    """What the audit log records of an endpoint (never its secret)."""
    return {"url": endpoint.url, "events": list(endpoint.events), "description": endpoint.description,
            "enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason}


async def find_endpoint(ctx: UseCaseContext, endpoint_id: int, *, for_update: bool = False) -> WebhookEndpoint:
    """One of the caller's company's endpoints, or NOT_FOUND (another company's is not found either)."""
    actor = webhook_manager(ctx)
    query = company_rows(WebhookEndpoint, actor).where(WebhookEndpoint.id == endpoint_id)
    endpoint = await ctx.session.scalar(query.with_for_update() if for_update else query)
    if endpoint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such webhook endpoint", "id")
    return endpoint


async def get_endpoint(ctx: UseCaseContext, endpoint_id: int) -> WebhookEndpoint | None:
    actor = webhook_manager(ctx)
    return await ctx.session.scalar(company_rows(WebhookEndpoint, actor).where(WebhookEndpoint.id == endpoint_id))


async def list_endpoints(ctx: UseCaseContext, *, first: int, after: int | None) -> Page[WebhookEndpoint]:
    actor = webhook_manager(ctx)
    return await keyset_page(ctx.session, company_rows(WebhookEndpoint, actor), WebhookEndpoint.id, first=first,
                             after=after, maximum=ctx.settings.max_page_size)


async def create_endpoint(
    ctx: UseCaseContext, *, url: str, events: Sequence[WebhookEvent], description: str | None,
) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its secret (returned this once)."""
    actor = webhook_manager(ctx)
    checked_url = await _checked(ctx, url)  # before any lock: it may resolve the host name
    chosen, text = _events(ctx, events), _description(description)
    # Serialize creations per company (PostgreSQL; SQLite's write transaction already does), so that
    # two at once cannot both pass the limit.
    await ctx.session.scalar(select(Company.id).where(Company.id == actor.company_id).with_for_update())
    count = await ctx.session.scalar(company_rows(WebhookEndpoint, actor, func.count()))
    if (count or 0) >= MAX_ENDPOINTS:
        raise DomainError(ErrorCode.INVALID_STATE, f"A company has at most {MAX_ENDPOINTS} webhook endpoints")
    endpoint = WebhookEndpoint(
        company_id=actor.company_id, events=chosen, description=text, url=checked_url,
        secret=new_secret(), enabled=True, consecutive_failures=0,
        created_by_user_id=actor.user_id, created_by_api_client_id=actor.api_client_id,
    )
    ctx.session.add(endpoint)
    await ctx.session.flush()
    await audit(ctx, "webhook_endpoint", endpoint.id, "create", after=audited(endpoint))
    return endpoint, endpoint.secret


async def update_endpoint(
    ctx: UseCaseContext, *, endpoint_id: int, url: str | None, events: Sequence[WebhookEvent] | None,
    description: str | None, enabled: bool | None,
) -> WebhookEndpoint:
    """Change what is given; enabling a disabled endpoint starts its failure count afresh."""
    webhook_manager(ctx)
    checked_url = None if url is None else await _checked(ctx, url)  # before any lock: it may resolve the host
    endpoint = await find_endpoint(ctx, endpoint_id, for_update=True)
    before = audited(endpoint)
    if checked_url is not None:
        endpoint.url = checked_url
    if events is not None:
        endpoint.events = _events(ctx, events)
    if description is not None:
        endpoint.description = _description(description)
    if enabled is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.consecutive_failures = True, None, 0
    elif enabled is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = False, "Disabled by the company"
    endpoint.updated_at = utcnow()
    await ctx.session.flush()
    after = audited(endpoint)
    if after != before:
        await audit(ctx, "webhook_endpoint", endpoint.id, "update", before=before, after=after)
    return endpoint


async def delete_endpoint(ctx: UseCaseContext, *, endpoint_id: int) -> int:
    """Delete an endpoint with its delivery log; nothing more is sent to it."""
    endpoint = await find_endpoint(ctx, endpoint_id, for_update=True)
    await audit(ctx, "webhook_endpoint", endpoint.id, "delete", before=audited(endpoint))
    await ctx.session.delete(endpoint)
    await ctx.session.flush()
    return endpoint_id


async def rotate_secret(ctx: UseCaseContext, *, endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned this once); the current one keeps signing alongside it for SECRET_OVERLAP.
    A secret older than that (from an earlier rotation) stops signing at once."""
    endpoint = await find_endpoint(ctx, endpoint_id, for_update=True)
    now = utcnow()
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + SECRET_OVERLAP
    endpoint.secret, endpoint.updated_at = new_secret(), now
    await ctx.session.flush()
    await audit(ctx, "webhook_endpoint", endpoint.id, "rotate_secret",
                after={"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()})
    return endpoint, endpoint.secret


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its overlap."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > utcnow():
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]
