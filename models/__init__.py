"""ORM classes and pure domain rules; importing the package registers every table."""

from models.api_client import ApiClient, ApiClientSecret, ApiScope
from models.approval import ApprovalRule, ApprovalTier, OrderApprovalStep
from models.audit import AuditEntry
from models.auth import AuthSession, LinkPurpose, LinkToken, LoginThrottle, RefreshToken
from models.base import Base
from models.budget import Budget, BudgetUsage, OrderCharge
from models.catalogue import Product
from models.change import FeedPosition, OrderChange
from models.company import Company, Country
from models.cost_centre import CostCentre, MemberCostCentre
from models.credit import CreditAccount, InvoiceApplication
from models.delegation import ApprovalDelegation
from models.group import Group
from models.invoice import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceNumberCounter,
    InvoiceRun,
    InvoiceRunStatus,
    InvoiceStatus,
    Payment,
)
from models.job import Job, JobStatus, WorkerHeartbeat
from models.location import DeliveryLocation, DeliverySlot, EndCustomer
from models.mail import OutboxMessage
from models.order import LineReturn, Order, OrderEvent, OrderLine, OrderNumberCounter
from models.order_state import OrderStatus
from models.saved_cart import SavedCart, SavedCartLine
from models.user import (
    MemberMonthlySpend,
    Membership,
    MembershipStatus,
    PaymentMethod,
    PermissionRestriction,
    Role,
    User,
)
from models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiClient",
    "ApiClientSecret",
    "ApiScope",
    "ApprovalDelegation",
    "ApprovalRule",
    "ApprovalTier",
    "AuditEntry",
    "AuthSession",
    "Base",
    "Budget",
    "BudgetUsage",
    "Company",
    "CostCentre",
    "Country",
    "CreditAccount",
    "DeliveryLocation",
    "DeliverySlot",
    "DeliveryStatus",
    "EndCustomer",
    "FeedPosition",
    "Group",
    "Invoice",
    "InvoiceApplication",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceNumberCounter",
    "InvoiceRun",
    "InvoiceRunStatus",
    "InvoiceStatus",
    "Job",
    "JobStatus",
    "LineReturn",
    "LinkPurpose",
    "LinkToken",
    "LoginThrottle",
    "MemberCostCentre",
    "MemberMonthlySpend",
    "Membership",
    "MembershipStatus",
    "Order",
    "OrderApprovalStep",
    "OrderChange",
    "OrderCharge",
    "OrderEvent",
    "OrderLine",
    "OrderNumberCounter",
    "OrderStatus",
    "OutboxMessage",
    "Payment",
    "PaymentMethod",
    "PermissionRestriction",
    "Product",
    "RefreshToken",
    "Role",
    "SavedCart",
    "SavedCartLine",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkerHeartbeat",
]
