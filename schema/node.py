"""`node(id:)`: fetch any object by its global id, scoped like every other query."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import approval_rule as approval_rule_use_cases
from resolvers import approval_view
from resolvers import audit as audit_use_cases
from resolvers import budget as budget_use_cases
from resolvers import catalogue as catalogue_use_cases
from resolvers import company as company_use_cases
from resolvers import cost_centre as cost_centre_use_cases
from resolvers import credit as credit_use_cases
from resolvers import group as group_use_cases
from resolvers import location as location_use_cases
from resolvers import order as order_use_cases
from resolvers import saved_cart as saved_cart_use_cases
from resolvers import user as user_use_cases
from resolvers import viewer as viewer_use_cases
from schema.api_client import fetch_api_client
from schema.approval import ApprovalRule
from schema.audit import AuditEntry
from schema.budget import budget_from_status
from schema.catalogue import Product
from schema.company import Company
from schema.cost_centre import CostCentre
from schema.credit import InvoiceApplication
from schema.delegation import fetch_delegation
from schema.group import Group
from schema.invoice import fetch_invoice
from schema.location import DeliveryLocation, DeliverySlot, EndCustomer
from schema.order_changes import fetch_change
from schema.order_types import order_from_view, order_line_from_view
from schema.relay import Node, parse_global_id
from schema.saved_cart import SavedCart
from schema.user import User
from schema.viewer import Person
from schema.webhook import fetch_webhook_delivery, fetch_webhook_endpoint


async def _company(ctx, pk: int):
    company = await company_use_cases.current_company(ctx)
    return Company.from_model(company) if company.id == pk else None


async def _group(ctx, pk: int):
    group = await group_use_cases.get_group(ctx, pk)
    return Group.from_model(group, (await group_use_cases.member_counts(ctx, [pk])).get(pk, 0)) if group else None


async def _user(ctx, pk: int):
    member = await user_use_cases.get_user(ctx, pk)
    return User.from_model(member) if member else None


async def _product(ctx, pk: int):
    product = await catalogue_use_cases.get_product(ctx, pk)
    return Product.from_model(product) if product else None


async def _order(ctx, pk: int):
    view = await order_use_cases.get_order(ctx, pk)
    return order_from_view(view, (await approval_view.flows(ctx, [view]))[view.id]) if view else None


async def _location(ctx, pk: int):
    location = await location_use_cases.find_location(ctx, pk)
    return DeliveryLocation.from_model(location) if location else None


async def _end_customer(ctx, pk: int):
    customer = await location_use_cases.find_end_customer(ctx, pk)
    return EndCustomer.from_model(customer) if customer else None


async def _slot(ctx, pk: int):
    slot = await location_use_cases.find_slot(ctx, pk)
    return DeliverySlot.from_model(slot) if slot else None


async def _order_line(ctx, pk: int):
    found = await order_use_cases.get_order_line(ctx, pk)
    return order_line_from_view(found[1], found[0].currency) if found else None


async def _saved_cart(ctx, pk: int):
    found = await saved_cart_use_cases.get_saved_cart(ctx, pk)
    return SavedCart.from_model(found[0], found[1], ctx.actor.membership_id) if found else None


async def _cost_centre(ctx, pk: int):
    centre = await cost_centre_use_cases.get_cost_centre(ctx, pk)
    return CostCentre.from_model(centre) if centre else None


async def _budget(ctx, pk: int):
    status = await budget_use_cases.get_budget(ctx, pk)
    return budget_from_status(status, ctx.settings.supplier_currency) if status else None


async def _approval_rule(ctx, pk: int):
    rule = await approval_rule_use_cases.get_rule(ctx, pk)
    return ApprovalRule.from_model(rule) if rule else None


async def _audit_entry(ctx, pk: int):
    entry = await audit_use_cases.get_audit_entry(ctx, pk)
    return AuditEntry.from_model(entry) if entry else None


async def _invoice_application(ctx, pk: int):
    application = await credit_use_cases.get_application(ctx, pk)
    return InvoiceApplication.from_model(application) if application else None


async def _person(ctx, pk: int):
    person = await viewer_use_cases.get_person(ctx, pk)
    return Person.from_model(person) if person else None


# Every type that implements Node has an entry (a test generated from the schema checks it).
NODE_FETCHERS = {
    "Company": _company, "Group": _group, "User": _user, "Product": _product, "Order": _order,
    "DeliveryLocation": _location, "EndCustomer": _end_customer, "DeliverySlot": _slot, "OrderLine": _order_line,
    "SavedCart": _saved_cart, "CostCentre": _cost_centre, "Budget": _budget, "ApprovalRule": _approval_rule,
    "AuditEntry": _audit_entry, "InvoiceApplication": _invoice_application, "Person": _person,
    "OrderChange": fetch_change, "ApiClient": fetch_api_client,
    "WebhookEndpoint": fetch_webhook_endpoint, "WebhookDelivery": fetch_webhook_delivery,
    "ApprovalDelegation": fetch_delegation, "Invoice": fetch_invoice,
}


@strawberry.type
class NodeQuery:
    @strawberry.field(description=(
        "Any object by global id, or null when it does not exist or is not yours to see. "
        "Same permissions as the object's own query."))
    async def node(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Global id.")],
    ) -> Node | None:
        parsed = parse_global_id(id)
        fetch = NODE_FETCHERS.get(parsed[0]) if parsed else None
        async with info.context.reading() as ctx:
            ctx.require_signed_in()
            return await fetch(ctx, parsed[1]) if fetch and parsed else None
