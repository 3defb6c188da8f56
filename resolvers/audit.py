"""The audit log: who changed which money control, rule, role or right, before and after."""

from __future__ import annotations

from models import AuditEntry
from policies.permissions import Permission
from policies.scopes import company_rows
from resolvers.context import UseCaseContext
from resolvers.pagination import Page, keyset_page

# The kinds of thing the log records (AuditEntry.entity). audit() refuses any other kind, so that a new
# one cannot reach the log before the API knows which object it names (schema/audit.py ENTITY_TYPES).
ENTITIES = frozenset({
    "api_client", "approval_rule", "budget", "company", "cost_centre", "credit", "invoice_application", "order",
    "purchase_limit", "user", "webhook_endpoint",
})


async def audit(
    ctx: UseCaseContext, entity: str, entity_id: int | None, action: str, *, before: dict | None = None,
    after: dict | None = None, company_id: int | None = None, actor_user_id: int | None = None,
) -> None:
    """One entry in the log of `company_id` (default: the caller's company), by the caller unless
    `actor_user_id` names the person (such as a registrant, who acts before signing in). A change made
    by an API client is attributed to the client (`actor_api_client_id`; it has no person)."""
    if entity not in ENTITIES:
        raise ValueError(f"audit entity {entity} is not one of resolvers.audit.ENTITIES")
    actor = ctx.actor
    ctx.session.add(AuditEntry(
        company_id=company_id if company_id is not None else (actor.company_id if actor else None),
        actor_user_id=actor_user_id if actor_user_id is not None else (actor.user_id if actor else None),
        actor_api_client_id=actor.api_client_id if actor and actor_user_id is None else None,
        entity=entity, entity_id=entity_id, action=action,
        before=before, after=after,
    ))


async def get_audit_entry(ctx: UseCaseContext, entry_id: int) -> AuditEntry | None:
    actor = ctx.require(Permission.AUDIT_READ)
    return await ctx.session.scalar(company_rows(AuditEntry, actor).where(AuditEntry.id == entry_id))


async def list_audit(ctx: UseCaseContext, *, entity: str | None, first: int, after: int | None) -> Page[AuditEntry]:
    actor = ctx.require(Permission.AUDIT_READ)
    query = company_rows(AuditEntry, actor)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    return await keyset_page(ctx.session, query, AuditEntry.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size, descending=True)
