"""The permissions the API checks, as `object:action` names matching policy.csv."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    COMPANY_READ = "company:read"
    COMPANY_UPDATE = "company:update"
    USER_READ = "user:read"
    USER_CREATE = "user:create"
    USER_UPDATE = "user:update"
    USER_ASSIGN_ROLE = "user:assign_role"
    USER_DEACTIVATE = "user:deactivate"
    USER_RESTRICT = "user:restrict"
    GROUP_READ = "group:read"
    GROUP_MANAGE = "group:manage"
    ORDER_CREATE = "order:create"
    ORDER_READ_ALL = "order:read_all"
    ORDER_APPROVE = "order:approve"
    BUDGET_MANAGE = "budget:manage"
    BUDGET_READ = "budget:read"
    ORDER_MANAGE = "order:manage"
    LOCATION_READ = "location:read"
    LOCATION_MANAGE = "location:manage"
    SAVED_CART_SHARE = "saved_cart:share"
    COST_CENTRE_READ = "cost_centre:read"
    COST_CENTRE_MANAGE = "cost_centre:manage"
    APPROVAL_RULE_READ = "approval_rule:read"
    APPROVAL_RULE_MANAGE = "approval_rule:manage"
    CREDIT_READ = "credit:read"
    AUDIT_READ = "audit:read"
    CATALOGUE_MANAGE = "catalogue:manage"
    CREDIT_MANAGE = "credit:manage"
    ORDER_FULFIL = "order:fulfil"
    CATALOGUE_READ = "catalogue:read"
    INVOICE_READ = "invoice:read"
    API_CLIENT_MANAGE = "api_client:manage"
    WEBHOOK_MANAGE = "webhook:manage"

    @property
    def obj(self) -> str:
        return self.value.split(":", 1)[0]

    @property
    def act(self) -> str:
        return self.value.split(":", 1)[1]


DESCRIPTIONS: dict[Permission, str] = {
    Permission.COMPANY_READ: "See the company's details",
    Permission.COMPANY_UPDATE: "Change the company's details",
    Permission.USER_READ: "List and see the company's users",
    Permission.USER_CREATE: "Invite and create users (customers and order approvers)",
    Permission.USER_UPDATE: "Change users' names, groups and payment methods",
    Permission.USER_ASSIGN_ROLE: "Give users the administrator, manager or accountant role, or change any role",
    Permission.USER_DEACTIVATE: "Deactivate and reactivate users",
    Permission.USER_RESTRICT: "Restrict or restore a single user's permissions",
    Permission.GROUP_READ: "List and see groups",
    Permission.GROUP_MANAGE: "Create, rename and delete groups, move users between them",
    Permission.ORDER_CREATE: "Create carts and place orders",
    Permission.ORDER_READ_ALL: "See the whole company's orders (others see their own)",
    Permission.ORDER_APPROVE: "Approve or reject orders",
    Permission.BUDGET_MANAGE: "Create and change budgets and purchase limits",
    Permission.BUDGET_READ: "See all budgets",
    Permission.ORDER_MANAGE: "Cancel other users' orders before approval",
    Permission.LOCATION_READ: "See delivery locations and end customers",
    Permission.LOCATION_MANAGE: "Create and change delivery locations, slots and end customers",
    Permission.SAVED_CART_SHARE: "Share a saved cart with the whole company",
    Permission.COST_CENTRE_READ: "See all cost centres and who is attached to them",
    Permission.COST_CENTRE_MANAGE: "Create and change cost centres and attach users to them",
    Permission.APPROVAL_RULE_READ: "See the approval rules",
    Permission.APPROVAL_RULE_MANAGE: "Create, change and remove approval rules",
    Permission.CREDIT_READ: "See the company's credit and outstanding amount",
    Permission.AUDIT_READ: "Read the audit log",
    Permission.CATALOGUE_MANAGE: "Platform operators: create, change and deactivate products",
    Permission.CREDIT_MANAGE: "Platform operators: set credit limits, decide invoice applications, register payments",
    Permission.ORDER_FULFIL: "Platform operators: mark orders fulfilled and record returns",
    Permission.CATALOGUE_READ: "See the supplier's products and categories",
    # Held by administrators, managers, accountants and the INVOICES_READ scope.
    Permission.INVOICE_READ: "See the company's invoices, credit notes, payments and whole transaction list",
    Permission.API_CLIENT_MANAGE: "Create, list, rotate and revoke the company's API clients",
    Permission.WEBHOOK_MANAGE: "Create, change and delete the company's webhook endpoints",
}
OPERATOR_ROLE = "operator"  # the platform's own staff; a Casbin role outside every company
