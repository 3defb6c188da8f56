"""GraphQL enums for roles and permissions, mirroring the Casbin policy's names."""

from __future__ import annotations

from enum import Enum

import strawberry

from models.user import Role as DomainRole
from policies.permissions import DESCRIPTIONS
from policies.permissions import Permission as DomainPermission

Permission = strawberry.enum(
    Enum("Permission", {p.name: strawberry.enum_value(p.value, description=DESCRIPTIONS[p]) for p in DomainPermission}),
    name="Permission",
    description="A right that roles grant and that an administrator may restrict for a single user.",
)


@strawberry.enum(name="Role", description="A user's role in a company; see the README's permissions table.")
class Role(Enum):
    ADMIN = strawberry.enum_value("admin", description="Administrator: everything in the company.")
    MANAGER = strawberry.enum_value(
        "manager", description="Manager: limited administration (customers and approvers, groups); sees all orders."
    )
    CUSTOMER = strawberry.enum_value("customer", description="Customer: places orders, sees only their own history.")
    ORDER_APPROVER = strawberry.enum_value("order_approver", description="Order approver: approves or rejects orders; cannot order.")


def to_domain_role(role: Role) -> DomainRole:
    return DomainRole(role.value)


def to_domain_permission(permission) -> DomainPermission:
    return DomainPermission(permission.value)


def from_domain_permission(permission: DomainPermission):
    return Permission[permission.name]
