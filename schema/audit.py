"""The audit log, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from models import AuditEntry as AuditModel
from resolvers import audit as use_cases
from schema.relay import Connection, Node, connection, from_cursor, to_global_id

# The object each kind of entry is about, by the type whose global id `entityId` is. A purchase limit is
# the buyer's (PurchaseLimit is not an object of its own, its `userId` names the User), a company's credit
# is the company's (CompanyCredit.companyId); every other kind is its own type.
ENTITY_TYPES = {
    "approval_rule": "ApprovalRule", "budget": "Budget", "company": "Company", "cost_centre": "CostCentre",
    "credit": "Company", "invoice_application": "InvoiceApplication", "order": "Order", "purchase_limit": "User",
    "user": "User", "webhook_endpoint": "WebhookEndpoint", "api_client": "ApiClient",
}


@strawberry.type(description="One change: who, when, what, before and after.")
class AuditEntry(Node):
    at: datetime = strawberry.field(description="When (UTC).")
    actor_id: strawberry.ID | None = strawberry.field(
        description="The Person who made the change (null: an API client, or the platform itself).")
    api_client_id: strawberry.ID | None = strawberry.field(description=(
        "The ApiClient that made the change with its secret (null: a person or the platform); `node(id:)` "
        "fetches it with `api_client:manage`."))
    entity: str = strawberry.field(description=(
        "What kind of thing changed: budget, purchase_limit, credit, approval_rule, user, order, cost_centre, "
        "invoice_application, company, webhook_endpoint, api_client."))
    entity_id: strawberry.ID | None = strawberry.field(description=(
        "Which one: the global id of the changed object, the same id its own query gives and `node(id:)` fetches "
        "(with that query's permissions). By `entity`: budget a Budget, approval_rule an ApprovalRule, cost_centre "
        "a CostCentre, order an Order, invoice_application an InvoiceApplication, user a User, purchase_limit the "
        "User whose limits changed, credit and company the Company, webhook_endpoint a WebhookEndpoint, api_client "
        "an ApiClient. An object "
        "removed since (a deleted approval rule) keeps its id here, and `node(id:)` answers null for it."))
    action: str = strawberry.field(description=(
        "What was done, e.g. create, update, role, restrict, approve; new_account_on_org_number (entity company): "
        "another purchasing account was registered on the company's organisation number; rotate_secret and "
        "disable (entity webhook_endpoint; disable with no actor: turned off after failing for more than a day)."))
    before: JSON | None = strawberry.field(description="State before (amounts in minor units).")
    after: JSON | None = strawberry.field(description="State after (amounts in minor units).")

    @classmethod
    def from_model(cls, e: AuditModel) -> AuditEntry:
        return cls(id=to_global_id("AuditEntry", e.id), at=e.created_at,
                   actor_id=to_global_id("Person", e.actor_user_id) if e.actor_user_id else None,
                   api_client_id=to_global_id("ApiClient", e.actor_api_client_id) if e.actor_api_client_id else None,
                   entity=e.entity,
                   entity_id=to_global_id(ENTITY_TYPES[e.entity], e.entity_id) if e.entity_id is not None else None,
                   action=e.action, before=None if e.before is None else JSON(e.before),
                   after=None if e.after is None else JSON(e.after))


@strawberry.type
class AuditQuery:
    @strawberry.field(description="The company's audit log, newest first. Requires `audit:read` (administrators).")
    async def audit_log(
        self, info: strawberry.Info,
        entity: Annotated[str | None, strawberry.argument(description="Only this kind of thing.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[AuditEntry]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_audit(ctx, entity=entity, first=first, after=from_cursor(after))
        return connection(page, AuditEntry.from_model)
