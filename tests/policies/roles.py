"""The role table as the product owner wrote it down: the source that policy.csv must follow
(README "Roles and permissions", plus the ordering permissions and the operator role).

Shared by the authorizer tests (against Casbin) and the API matrix (against `me.permissions`)."""

from __future__ import annotations

from models import ApiScope, Role
from policies.permissions import OPERATOR_ROLE
from policies.permissions import Permission as P

ALL = frozenset(P)

# The platform's own staff: permissions outside every company, held by no company role.
OPERATOR_ONLY = frozenset({P.CATALOGUE_MANAGE, P.ORDER_FULFIL, P.CREDIT_MANAGE})
COMPANY_PERMISSIONS = ALL - OPERATOR_ONLY

EXPECTED_ROLE_PERMISSIONS: dict[str, frozenset[P]] = {
    Role.ADMIN.value: COMPANY_PERMISSIONS,
    Role.MANAGER.value: frozenset({
        P.COMPANY_READ, P.USER_READ, P.USER_CREATE, P.USER_UPDATE, P.GROUP_READ, P.GROUP_MANAGE,
        P.ORDER_CREATE, P.ORDER_READ_ALL, P.ORDER_MANAGE, P.BUDGET_READ, P.LOCATION_READ, P.LOCATION_MANAGE,
        P.COST_CENTRE_READ, P.APPROVAL_RULE_READ, P.CREDIT_READ, P.CATALOGUE_READ, P.INVOICE_READ,
    }),
    Role.CUSTOMER.value: frozenset({P.COMPANY_READ, P.ORDER_CREATE, P.LOCATION_READ, P.CATALOGUE_READ}),
    Role.ORDER_APPROVER.value: frozenset({P.COMPANY_READ, P.ORDER_APPROVE, P.CATALOGUE_READ}),
    # The external accountant: reads the company, its orders, invoices (and so transactions) and credit.
    Role.ACCOUNTANT.value: frozenset({P.COMPANY_READ, P.ORDER_READ_ALL, P.INVOICE_READ, P.CREDIT_READ}),
    OPERATOR_ROLE: OPERATOR_ONLY | {P.CATALOGUE_READ},
    # API clients: each scope is a role; every scope reads its own company's details.
    ApiScope.ORDERS_READ.policy_role: frozenset({P.COMPANY_READ, P.ORDER_READ_ALL}),
    ApiScope.INVOICES_READ.policy_role: frozenset({P.COMPANY_READ, P.INVOICE_READ}),
    ApiScope.CATALOGUE_READ.policy_role: frozenset({P.COMPANY_READ, P.CATALOGUE_READ}),
    ApiScope.WEBHOOKS_MANAGE.policy_role: frozenset({P.COMPANY_READ, P.WEBHOOK_MANAGE}),
}
SCOPE_ROLES = tuple(scope.policy_role for scope in ApiScope)

# Company permissions that only administrators hold, on purpose.
ADMIN_ONLY = frozenset({
    P.COMPANY_UPDATE, P.USER_ASSIGN_ROLE, P.USER_DEACTIVATE, P.USER_RESTRICT, P.BUDGET_MANAGE, P.SAVED_CART_SHARE,
    P.COST_CENTRE_MANAGE, P.APPROVAL_RULE_MANAGE, P.AUDIT_READ, P.API_CLIENT_MANAGE,
})
