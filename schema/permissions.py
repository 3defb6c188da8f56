"""GraphQL enums for roles and permissions, mirroring the Casbin policy's names."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types.enum import EnumValueDefinition

from models.user import Role as DomainRole
from policies.permissions import DESCRIPTIONS
from policies.permissions import Permission as DomainPermission


def _permission(permission: DomainPermission) -> EnumValueDefinition:
    return strawberry.enum_value(permission.value, description=DESCRIPTIONS[permission])


@strawberry.enum(
    name="Permission", description="A right that roles grant and that an administrator may restrict for a single user."
)
class Permission(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    COMPANY_READ = _permission(DomainPermission.COMPANY_READ)
    COMPANY_UPDATE = _permission(DomainPermission.COMPANY_UPDATE)
    USER_READ = _permission(DomainPermission.USER_READ)
    USER_CREATE = _permission(DomainPermission.USER_CREATE)
    USER_UPDATE = _permission(DomainPermission.USER_UPDATE)
    USER_ASSIGN_ROLE = _permission(DomainPermission.USER_ASSIGN_ROLE)
    USER_DEACTIVATE = _permission(DomainPermission.USER_DEACTIVATE)
    USER_RESTRICT = _permission(DomainPermission.USER_RESTRICT)
    GROUP_READ = _permission(DomainPermission.GROUP_READ)
    GROUP_MANAGE = _permission(DomainPermission.GROUP_MANAGE)
    ORDER_CREATE = _permission(DomainPermission.ORDER_CREATE)
    ORDER_READ_ALL = _permission(DomainPermission.ORDER_READ_ALL)
    ORDER_APPROVE = _permission(DomainPermission.ORDER_APPROVE)
    BUDGET_MANAGE = _permission(DomainPermission.BUDGET_MANAGE)
    BUDGET_READ = _permission(DomainPermission.BUDGET_READ)
    ORDER_MANAGE = _permission(DomainPermission.ORDER_MANAGE)
    LOCATION_READ = _permission(DomainPermission.LOCATION_READ)
    LOCATION_MANAGE = _permission(DomainPermission.LOCATION_MANAGE)
    SAVED_CART_SHARE = _permission(DomainPermission.SAVED_CART_SHARE)
    COST_CENTRE_READ = _permission(DomainPermission.COST_CENTRE_READ)
    COST_CENTRE_MANAGE = _permission(DomainPermission.COST_CENTRE_MANAGE)
    APPROVAL_RULE_READ = _permission(DomainPermission.APPROVAL_RULE_READ)
    APPROVAL_RULE_MANAGE = _permission(DomainPermission.APPROVAL_RULE_MANAGE)
    CREDIT_READ = _permission(DomainPermission.CREDIT_READ)
    AUDIT_READ = _permission(DomainPermission.AUDIT_READ)
    CATALOGUE_MANAGE = _permission(DomainPermission.CATALOGUE_MANAGE)
    CREDIT_MANAGE = _permission(DomainPermission.CREDIT_MANAGE)
    ORDER_FULFIL = _permission(DomainPermission.ORDER_FULFIL)
    CATALOGUE_READ = _permission(DomainPermission.CATALOGUE_READ)
    INVOICE_READ = _permission(DomainPermission.INVOICE_READ)
    API_CLIENT_MANAGE = _permission(DomainPermission.API_CLIENT_MANAGE)
    WEBHOOK_MANAGE = _permission(DomainPermission.WEBHOOK_MANAGE)


assert [(p.name, p.value) for p in Permission] == [(p.name, p.value) for p in DomainPermission]


@strawberry.enum(name="Role", description="A user's role in a company; see the README's permissions table.")
class Role(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    ADMIN = strawberry.enum_value("admin", description="Administrator: everything in the company.")
    MANAGER = strawberry.enum_value(
        "manager", description="Manager: limited administration (customers and approvers, groups); sees all orders."
    )
    CUSTOMER = strawberry.enum_value("customer", description="Customer: places orders, sees only their own history.")
    ORDER_APPROVER = strawberry.enum_value(
        "order_approver", description="Order approver: approves or rejects orders; cannot order."
    )
    ACCOUNTANT = strawberry.enum_value(
        "accountant", description="Accountant: reads the company's orders, invoices, transactions and credit; "
        "cannot order, approve or manage anything.")


def to_domain_role(role: Role) -> DomainRole:
    return DomainRole(role.value)


def to_domain_permission(permission: Permission) -> DomainPermission:
    return DomainPermission(permission.value)


def from_domain_permission(permission: DomainPermission) -> Permission:
    return Permission[permission.name]
