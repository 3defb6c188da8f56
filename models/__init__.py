"""ORM classes and pure domain rules; importing the package registers every table."""

from models.approval import ApprovalRule, ApprovalTier, OrderApprovalStep
from models.audit import AuditEntry
from models.budget import Budget, BudgetUsage, OrderCharge
from models.cost_centre import CostCentre, MemberCostCentre
from models.credit import CreditAccount, InvoiceApplication
from models.auth import AuthSession, LinkPurpose, LinkToken, LoginThrottle, RefreshToken
from models.base import Base
from models.company import Company, Country
from models.group import Group
from models.mail import OutboxMessage
from models.catalogue import Product
from models.location import DeliveryLocation, DeliverySlot, EndCustomer
from models.order import LineReturn, Order, OrderEvent, OrderLine, OrderNumberCounter
from models.order_state import OrderStatus
from models.saved_cart import SavedCart, SavedCartLine
from models.user import MemberMonthlySpend, Membership, MembershipStatus, PaymentMethod, PermissionRestriction, Role, User

__all__ = [
    "ApprovalRule", "ApprovalTier", "AuditEntry", "Budget", "BudgetUsage", "CostCentre", "CreditAccount",
    "InvoiceApplication", "MemberCostCentre", "MemberMonthlySpend", "OrderApprovalStep", "OrderCharge",
    "DeliveryLocation", "DeliverySlot", "EndCustomer", "LineReturn", "Order", "OrderEvent", "OrderLine",
    "OrderNumberCounter", "OrderStatus", "Product", "SavedCart", "SavedCartLine",
    "AuthSession", "Base", "Company", "Country", "Group", "LinkPurpose", "LinkToken", "LoginThrottle",
    "Membership", "MembershipStatus", "OutboxMessage", "PaymentMethod", "PermissionRestriction",
    "RefreshToken", "Role", "User",
]
