"""The GraphQL schema, composed from one Query and one Mutation (and Subscription) mixin per domain."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from schema.api_client import ApiClient, ApiClientMutation, ApiClientQuery
from schema.approval import ApprovalMutation, ApprovalQuery
from schema.approval_queue import ApprovalQueueQuery
from schema.audit import AuditQuery
from schema.auth import AuthMutation
from schema.budget import BudgetMutation, BudgetQuery
from schema.catalogue import CatalogueMutation, CatalogueQuery, Product
from schema.company import Company, CompanyMutation, CompanyQuery
from schema.cost_centre import CostCentre, CostCentreMutation, CostCentreQuery
from schema.credit import CreditMutation, CreditQuery
from schema.delegation import DelegationMutation, DelegationQuery
from schema.extensions import executor_for, extensions_for
from schema.group import Group, GroupMutation, GroupQuery
from schema.invoice import Invoice, InvoiceMutation, InvoiceQuery
from schema.location import DeliveryLocation, EndCustomer, LocationMutation, LocationQuery
from schema.node import NodeQuery
from schema.order import OrderMutation, OrderQuery
from schema.order_changes import OrderChange, OrderChangeQuery
from schema.order_types import Order
from schema.saved_cart import SavedCart, SavedCartMutation, SavedCartQuery
from schema.scalars import SCALAR_OVERRIDES
from schema.subscription import OrderSubscription
from schema.transaction import TransactionQuery
from schema.user import User, UserMutation, UserQuery
from schema.viewer import Person, ViewerQuery
from schema.webhook import WebhookMutation, WebhookQuery
from settings import Settings


@strawberry.type(description="Everything that can be read.")
class Query(ViewerQuery, CompanyQuery, UserQuery, GroupQuery, CatalogueQuery, LocationQuery, OrderQuery,
            SavedCartQuery, CostCentreQuery, BudgetQuery, CreditQuery, ApprovalQuery,
            ApprovalQueueQuery, AuditQuery, OrderChangeQuery,
            ApiClientQuery, WebhookQuery, DelegationQuery, InvoiceQuery, TransactionQuery, NodeQuery):
    pass


@strawberry.type(description="Everything that can be changed; each mutation is one transaction.")
class Mutation(AuthMutation, CompanyMutation, UserMutation, GroupMutation, CatalogueMutation, LocationMutation,
               OrderMutation, SavedCartMutation, CostCentreMutation, BudgetMutation, CreditMutation, ApprovalMutation,
               ApiClientMutation, WebhookMutation, DelegationMutation, InvoiceMutation):
    pass


@strawberry.type(description="Live changes, over the WebSocket on /graphql (graphql-transport-ws).")
class Subscription(OrderSubscription):
    pass


class ProcuraSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Expected errors (access, validation) are answers, not incidents: the ErrorPolicy
        extension logs the unexpected ones, so the default logging of every error is off."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    return ProcuraSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        types=[Company, Group, User, Product, DeliveryLocation, EndCustomer, Order, SavedCart, CostCentre, Person,
               OrderChange, ApiClient, Invoice],
        extensions=extensions_for(settings), config=StrawberryConfig(batching_config=None),
        execution_context_class=executor_for(settings), scalar_overrides=SCALAR_OVERRIDES,
    )
