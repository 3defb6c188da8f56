"""The permissions the API checks, as `object:action` names matching policy.csv."""

from __future__ import annotations

from enum import Enum


class Permission(str, Enum):
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
    CATALOGUE_MANAGE = "catalogue:manage"
    ORDER_FULFIL = "order:fulfil"

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
    Permission.USER_ASSIGN_ROLE: "Give users the administrator or manager role, or change any role",
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
    Permission.CATALOGUE_MANAGE: "Platform operators: create, change and deactivate products",
    Permission.ORDER_FULFIL: "Platform operators: mark orders fulfilled and record returns",
}
OPERATOR_ROLE = "operator"  # the platform's own staff; a Casbin role outside every company
