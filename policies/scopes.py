"""Which rows of a company-owned table a caller may touch, as SQL: decided here and nowhere else.

A table is company-owned when it has a `company_id` column (COMPANY_OWNED, read from the models'
metadata, so a table that gains the column is covered the day it does). Every statement that
reads or changes one starts from a scope of this module:

- `company_rows(Model, company, *columns)`, `company_update` and `company_delete`: the rows of one
  company. `company` is the caller (an Actor: the company of their token), a row this request
  holds (its company: the row was read through a scope, or created by this request), several such
  rows (their companies), or, for platform operators who stand outside every company, the Company
  row they act on. Never a company id taken from input.
- the row-level scopes further down, built on it: the company's members and groups, the orders a
  caller may see, the approval steps they may decide;
- `cross_company(statement, reason)`: the few statements that look across companies (a person's
  own memberships, the caller's token, platform operators), each with its reason.

A scope puts its condition into the WHERE clause and its name into the statement's execution
options (SCOPE_OPTION). The test suite runs every request under tests/tenant_guard.py, which fails
the test when a statement on a company-owned table runs without a scope. Within a scoped
statement, its subqueries and the rows it joins through foreign keys belong to the scope: a
reference is stored only after it was looked up through a scope. Another company's row is simply
not found, the same answer as a missing id.

Tables without a `company_id` whose rows belong to a company through a parent
(OWNED_THROUGH_PARENT: an order's lines, a budget's usage, ...) are read by their parent's key,
taken from a parent row read through a scope, or by a relationship load from such a row.

Why statements rather than a criterion that the session adds to every ORM statement
(`with_loader_criteria`): the hot read models (order history, order views) run as plain Core
statements outside the ORM's execution layer, which such a criterion would not reach, and a reader
of a use case sees in its statement which rows it can reach.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    String,
    Update,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    false,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload, selectinload
from sqlalchemy.orm.util import identity_key

from models import (
    ApprovalDelegation,
    Base,
    Company,
    Group,
    Membership,
    MembershipStatus,
    Order,
    OrderApprovalStep,
    OrderChange,
)
from models.base import utcnow
from models.order_state import OrderStatus
from policies.permissions import Permission

if TYPE_CHECKING:  # policies.actor builds its statement with cross_company
    from policies.actor import Actor

SCOPE_OPTION = "company_scope"

# Company-owned: every table with a company_id column.
COMPANY_OWNED = frozenset(table.name for table in Base.metadata.tables.values() if "company_id" in table.c)

# Tables whose rows belong to a company through a parent row (child -> parent table).
OWNED_THROUGH_PARENT = {
    "order_lines": "orders", "order_events": "orders", "order_charges": "orders", "line_returns": "order_lines",
    "budget_usage": "budgets", "approval_tiers": "approval_rules", "delivery_slots": "delivery_locations",
    "saved_cart_lines": "saved_carts", "member_cost_centres": "memberships", "member_monthly_spend": "memberships",
    "api_client_secrets": "api_clients", "webhook_attempts": "webhook_deliveries",
    "invoice_lines": "invoices",
}

# The platform's tables and each person's own: no company's data.
NOT_COMPANY_OWNED = frozenset({
    "companies", "users", "auth_sessions", "refresh_tokens", "link_tokens", "login_throttles", "mail_outbox",
    "products", "jobs", "worker_heartbeats", "feed_positions",
    # The supplier's invoice runs and its one invoice number sequence span every company.
    "invoice_runs", "invoice_number_counter",
})


class _OfCompany(Protocol):
    @property
    def company_id(self) -> int | None: ...


# The caller (Actor), a row of a company-owned table or an order view (their company), or a Company.
CompanySource = _OfCompany | Company
StatementT = TypeVar("StatementT", Select, Update, Delete)


@dataclass(frozen=True, slots=True)
class Scope:
    """Rows of a company-owned table that a statement may touch: a WHERE condition and the name the
    statement carries in its execution options."""

    condition: ColumnElement[bool]
    name: str

    def apply(self, statement: StatementT) -> StatementT:
        """`statement` limited to the scope's rows, and marked as scoped."""
        return statement.where(self.condition).execution_options(**{SCOPE_OPTION: self.name})


def _company_ids(company: CompanySource | Collection[CompanySource] | None) -> set[int]:
    sources = company if isinstance(company, Collection) else [company]
    ids = {source.id if isinstance(source, Company) else source.company_id for source in sources if source is not None}
    return {i for i in ids if i is not None}


def company_scope(model: Any, company: CompanySource | Collection[CompanySource] | None) -> Scope:
    """The rows of `model` that belong to `company` (none at all without a company)."""
    ids = sorted(_company_ids(company))
    if not ids:
        return Scope(false(), "company")
    return Scope(model.company_id == ids[0] if len(ids) == 1 else model.company_id.in_(ids), "company")


def company_rows(model: Any, company: CompanySource | Collection[CompanySource] | None, *columns: Any) -> Select:
    """SELECT `columns` (default: the model) FROM `model`, limited to the company's rows."""
    return company_scope(model, company).apply(select(*(columns or (model,))).select_from(model))


def company_update(model: Any, company: CompanySource | None) -> Update:
    return company_scope(model, company).apply(update(model))


def company_delete(model: Any, company: CompanySource | None) -> Delete:
    return company_scope(model, company).apply(delete(model))


async def company_row(session: AsyncSession, model: Any, row_id: int | None, company: CompanySource | None) -> Any:
    """One row of the company by id, or None: like `session.get`, from the rows the session already
    holds without a statement, else through company_rows."""
    if row_id is None:
        return None
    held = session.identity_map.get(identity_key(model, row_id))
    if held is not None:
        return held if held.company_id in _company_ids(company) else None
    return await session.scalar(company_rows(model, company).where(model.id == row_id))


def cross_company(statement: StatementT, reason: str) -> StatementT:
    """A statement that looks across companies on purpose; `reason` says why."""
    return statement.execution_options(**{SCOPE_OPTION: f"cross-company: {reason}"})


# --- a person's own memberships, in every company they belong to ----------------------------------------------

def person_memberships(user_id: int, *columns: Any) -> Select:
    """A person's memberships in every company (signing in, refreshing a session, accepting an invitation)."""
    statement = select(*(columns or (Membership,))).select_from(Membership).where(Membership.user_id == user_id)
    return cross_company(statement, "a person's own memberships")


def person_membership_in(user_id: int, company_id: int, *columns: Any) -> Select:
    """A person's membership in the company they name at sign-in or when switching company."""
    return person_memberships(user_id, *columns).where(Membership.company_id == company_id)


def memberships_elsewhere(member: Membership, *columns: Any) -> Select:
    """The same person's memberships in other companies (a person's name is theirs in every company)."""
    return person_memberships(member.user_id, *columns).where(Membership.company_id != member.company_id)


def person_companies(user_id: int) -> Select:
    """The companies a person is an active member of, with their role in each (`me.companies`)."""
    statement = (
        select(Company, Membership.role).join(Membership, Membership.company_id == Company.id)
        .where(Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE.value)
    )
    return cross_company(statement, "the companies a person belongs to")


# --- members and groups ------------------------------------------------------------------------------------------

def member_loading(query: Select) -> Select:
    """Load what a User result shows (person, group, restrictions) in one round trip plus one."""
    return query.options(
        joinedload(Membership.user), joinedload(Membership.group), selectinload(Membership.restrictions)
    )


def company_members(actor: Actor) -> Select:
    return member_loading(company_rows(Membership, actor))


def company_groups(actor: Actor) -> Select:
    return company_rows(Group, actor)


async def load_member(session: AsyncSession, member: Membership) -> Membership:
    """A membership this request holds, with everything a User result shows, freshly read (after a change)."""
    query = member_loading(company_rows(Membership, member).where(Membership.id == member.id))
    return (await session.scalars(query.execution_options(populate_existing=True))).unique().one()


async def find_member(
    session: AsyncSession, actor: Actor, membership_id: int, *, for_update: bool = False,
) -> Membership | None:
    query = company_members(actor).where(Membership.id == membership_id)
    if for_update:
        query = query.with_for_update(of=Membership)
    return (await session.scalars(query)).unique().one_or_none()


async def find_group(session: AsyncSession, actor: Actor, group_id: int) -> Group | None:
    return await session.scalar(company_groups(actor).where(Group.id == group_id))


# --- orders --------------------------------------------------------------------------------------------------------

# The order scopes are built once per shape with bound parameters (a history page runs on every
# request, and building the condition costs more than binding values to it).
OrderScope = tuple  # ("every_company",) | ("none",) | ("company",) | ("members", approver, buyer, has_role)
VISIBLE_ORDERS = "orders visible to the caller"


def order_scope(actor: Actor, authorizer) -> tuple[OrderScope, dict]:
    """Which submitted orders an actor may see: a shape and the values for its parameters.

    Operators see every company's orders (they fulfil them); administrators and managers
    their company's; order approvers the orders awaiting a decision and those they decided;
    customers their own.
    """
    if actor.is_operator and authorizer.allows(actor, Permission.ORDER_FULFIL):
        return ("every_company",), {}
    if actor.company_id is None:
        return ("none",), {}
    params: dict[str, Any] = {"scope_company_id": actor.company_id}
    if authorizer.allows(actor, Permission.ORDER_READ_ALL):
        return ("company",), params
    approver = authorizer.allows(actor, Permission.ORDER_APPROVE)
    buyer = authorizer.allows(actor, Permission.ORDER_CREATE)
    if not (approver or buyer):  # e.g. an API client without ORDERS_READ, a customer whose order:create is restricted
        return ("none",), {}
    params["scope_membership_id"] = actor.membership_id
    if approver:
        params.update(_step_keys(actor))
    return ("members", approver, buyer, actor.role is not None), params


@cache
def order_shape_scope(scope: OrderScope) -> Scope:
    """The Scope of an order-scope shape, over bound parameters whose values come from order_scope."""
    return Scope(_order_scope_condition(scope, bindparam), VISIBLE_ORDERS)


@cache
def order_change_shape_scope(scope: OrderScope) -> Scope:
    """The changes (order_changes joined to their order) of the orders an order-scope shape shows. The
    change's own company is compared too: implied by its order's, but it lets the feed's (company,
    position) index find one company's changes without walking everyone's."""
    condition = _order_scope_condition(scope, bindparam)
    if scope[0] not in ("every_company", "none"):
        condition = and_(OrderChange.company_id == bindparam("scope_company_id"), condition)
    return Scope(condition, VISIBLE_ORDERS)


def visible_orders(actor: Actor, authorizer) -> Scope:
    """order_scope as a Scope with its values in it."""
    scope, params = order_scope(actor, authorizer)
    return Scope(_order_scope_condition(scope, lambda name: bindparam(name, params[name])), VISIBLE_ORDERS)


def eligible_step(actor: Actor) -> ColumnElement[bool]:
    """A current, undecided approval step that this actor may decide (by role or by name)."""
    keys = _step_keys(actor)
    return _eligible_step_condition(actor.role is not None, lambda name: bindparam(name, keys[name]))


def _order_scope_condition(scope: OrderScope, value: Callable[[str], ColumnElement]) -> ColumnElement[bool]:
    submitted = Order.status != OrderStatus.DRAFT.value
    if scope[0] == "every_company":
        return submitted
    if scope[0] == "none":
        return false()
    own_company = Order.company_id == value("scope_company_id")
    if scope[0] == "company":
        return and_(own_company, submitted)
    _, approver, buyer, has_role = scope
    membership = value("scope_membership_id")
    visible = []
    if approver:
        eligible = select(OrderApprovalStep.order_id).where(_eligible_step_condition(has_role, value))
        awaiting = and_(Order.status == OrderStatus.PENDING_APPROVAL.value, Order.buyer_id != membership,
                        Order.id.in_(eligible))
        decided = Order.id.in_(select(OrderApprovalStep.order_id).where(OrderApprovalStep.decided_by_id == membership))
        visible.append(or_(awaiting, decided))
    if buyer:
        visible.append(Order.buyer_id == membership)
    return and_(own_company, submitted, or_(*visible)) if visible else false()


def _step_keys(actor: Actor) -> dict:
    keys = {"scope_membership_id": actor.membership_id, "scope_member_key": f" member:{actor.membership_id} ",
            "scope_now": utcnow()}  # which absences hold now (delegation)
    if actor.role is not None:
        keys["scope_role_key"] = f" role:{actor.role.value} "
    return keys


def _eligible_step_condition(has_role: bool, value: Callable[[str], ColumnElement]) -> ColumnElement[bool]:
    keys = [OrderApprovalStep.approver_keys.contains(value("scope_member_key"))]
    if has_role:
        keys.append(OrderApprovalStep.approver_keys.contains(value("scope_role_key")))
    # Tiers escalate: whoever decided one tier of a rule does not decide another tier of it.
    earlier = aliased(OrderApprovalStep)
    decided_earlier_tier = exists().where(
        earlier.order_id == OrderApprovalStep.order_id, earlier.rule_name == OrderApprovalStep.rule_name,
        earlier.decided_by_id == value("scope_membership_id"))
    keys.append(_delegated_step_condition(value))
    return and_(OrderApprovalStep.is_current.is_(True), OrderApprovalStep.decision.is_(None), or_(*keys),
                ~decided_earlier_tier)


def _delegated_step_condition(value: Callable[[str], ColumnElement]) -> ColumnElement[bool]:
    """The step is one an absent approver could decide (by name or role) whose substitute the caller is
    now: a delegation of the step's company holds, the absent approver is active and did not place the
    order, and did not decide (nor had decided for them) an earlier tier of the rule."""
    absent = aliased(Membership)
    earlier = aliased(OrderApprovalStep)
    by_name = OrderApprovalStep.approver_keys.contains(literal(" member:") + cast(absent.id, String) + literal(" "))
    by_role = OrderApprovalStep.approver_keys.contains(literal(" role:") + absent.role + literal(" "))
    # Two levels down, the step is correlated by name (auto-correlation reaches only the enclosing SELECT).
    own_order = exists().where(Order.id == OrderApprovalStep.order_id, Order.buyer_id == absent.id).correlate(
        OrderApprovalStep, absent)
    decided_earlier_tier = exists().where(
        earlier.order_id == OrderApprovalStep.order_id, earlier.rule_name == OrderApprovalStep.rule_name,
        or_(earlier.decided_by_id == absent.id, earlier.on_behalf_of_id == absent.id)).correlate(
        OrderApprovalStep, absent)
    return select(ApprovalDelegation.id).join(absent, absent.id == ApprovalDelegation.approver_id).where(
        ApprovalDelegation.company_id == OrderApprovalStep.company_id,
        ApprovalDelegation.delegate_id == value("scope_membership_id"),
        ApprovalDelegation.starts_at <= value("scope_now"), ApprovalDelegation.ends_at > value("scope_now"),
        ApprovalDelegation.cancelled_at.is_(None), absent.status == MembershipStatus.ACTIVE.value,
        or_(by_name, by_role), ~own_order, ~decided_earlier_tier).exists()
