"""Helpers for the spend-control tests: products, cost centres, carts and orders through the
API, the spend-control mutations as one-liners, and direct reads of the guarded rows."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select

from models import (
    AuditEntry,
    BudgetUsage,
    CostCentre,
    CreditAccount,
    MemberCostCentre,
    MemberMonthlySpend,
    Membership,
    Order,
    OrderApprovalStep,
    OrderCharge,
    OutboxMessage,
    Product,
    Role,
)
from models.base import utcnow
from schema.relay import decode_id, to_global_id
from tests.factories import Api, Member, Tenant, create_member, error_code
from tests.factories import operator as operator  # re-exported (as is new_key): shared by every area
from tests.helpers import new_key as new_key

_sequence = itertools.count(1)

ERROR = "... on MutationError { code message field }"
ORDER_FIELDS = """
  id number status buyer { userId }
  totals { gross { amount currency } credited { amount } }
  costCentre { costCentreId name code }
  warnings
  lines { id quantity }
  timeline { kind fromStatus toStatus comment actorName }
  approvalFlow {
    rules { ruleName reason tiers { level approverRoles approverNames status decidedBy decidedAt comment } }
    viewerActions
  }
"""
BUDGET_FIELDS = """id name ownerType ownerId period startsOn endsOn amount { amount currency } action active
  periodStart periodEnd committed { amount } spent { amount } remaining { amount }"""
LIMIT_FIELDS = "userId perOrder { amount } perMonth { amount } usedThisMonth { amount } remainingThisMonth { amount }"
CREDIT_FIELDS = """companyId creditLimit { amount currency } outstanding { amount } available { amount } invoiceEnabled
  latestApplication { id status message decisionNote }"""
RULE_FIELDS = """id name condition threshold costCentreId category appliesToRoles appliesToGroupIds active
  tiers { level roles userIds }"""

# name -> (input type, selection of the success payload)
MUTATIONS = {
    "addToCart": ("AddToCartInput", "... on OrderPayload { order { id } }"),
    "updateCartLine": ("UpdateCartLineInput", "... on OrderPayload { order { id lines { quantity } } }"),
    "updateCart": ("UpdateCartInput",
                   "... on OrderPayload { order { id costCentre { costCentreId code } paymentMethod } }"),
    "submitOrder": ("SubmitOrderInput", f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"),
    "cancelOrder": ("CancelOrderInput", f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"),
    "fulfilOrder": ("FulfilOrderInput", f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"),
    "recordReturn": ("RecordReturnInput", f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"),
    "approveOrder": ("DecideOrderInput", f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"),
    "rejectOrder": ("DecideOrderInput", f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"),
    "saveCostCentre": ("CostCentreInput",
                       "... on CostCentrePayload { costCentre { id name code active "
                       "invoiceAddress { street postalCode city } } }"),
    "setUserCostCentres": ("SetUserCostCentresInput",
                           "... on UserCostCentresPayload { userId defaultId costCentres { id code } }"),
    "saveBudget": ("BudgetInput", f"... on BudgetPayload {{ budget {{ {BUDGET_FIELDS} }} }}"),
    "setPurchaseLimit": ("SetPurchaseLimitInput",
                         f"... on PurchaseLimitPayload {{ purchaseLimit {{ {LIMIT_FIELDS} }} }}"),
    "applyForInvoice": ("ApplyForInvoiceInput", f"... on CreditPayload {{ credit {{ {CREDIT_FIELDS} }} }}"),
    "decideInvoiceApplication": ("DecideInvoiceApplicationInput",
                                 f"... on CreditPayload {{ credit {{ {CREDIT_FIELDS} }} }}"),
    "setCreditLimit": ("SetCreditLimitInput", f"... on CreditPayload {{ credit {{ {CREDIT_FIELDS} }} }}"),
    "registerPayment": ("RegisterPaymentInput", f"... on CreditPayload {{ credit {{ {CREDIT_FIELDS} }} }}"),
    "saveApprovalRule": ("ApprovalRuleInput", f"... on ApprovalRulePayload {{ rule {{ {RULE_FIELDS} }} }}"),
    "deleteApprovalRule": ("DeleteApprovalRuleInput", "... on DeleteApprovalRulePayload { deletedId }"),
    "updateUser": ("UpdateUserInput", "... on UserPayload { user { id role paymentMethods } }"),
    "restrictUserPermission": ("UserPermissionInput", "... on UserPayload { user { id restrictedPermissions } }"),
    "restoreUserPermission": ("UserPermissionInput", "... on UserPayload { user { id restrictedPermissions } }"),
}
BULK = """mutation($input: DecideOrdersInput!) {{ {name}(input: $input) {{ results {{
  orderId order {{ id status }} error {{ code message field }} }} }} }}"""


async def call(api: Api, name: str, input: dict, token: str | None) -> dict:
    """Run one mutation; the payload dict, or {"__typename": "MutationError", "code": ...} for a typed
    error, or {"__typename": "GraphQLError", "code": ...} for a top-level one (FORBIDDEN, ...)."""
    input_type, selection = MUTATIONS[name]
    body = await api.mutate(name, input_type, f"__typename {selection} {ERROR}", input, token)
    if body.get("errors"):
        return {"__typename": "GraphQLError", "code": error_code(body), "errors": body["errors"]}
    return body["data"][name]


def code_of(result: dict) -> str:
    """'ok' or the error code of a `call` result."""
    return "ok" if result["__typename"] not in ("MutationError", "GraphQLError") else result["code"]


async def ok(api: Api, name: str, input: dict, token: str | None) -> dict:
    result = await call(api, name, input, token)
    assert result["__typename"] not in ("MutationError", "GraphQLError"), result
    return result


async def bulk(api: Api, name: str, ids: list[str], comment: str, token: str) -> list[dict]:
    data = await api.query(BULK.format(name=name), {"input": {"ids": ids, "comment": comment}}, token)
    return data[name]["results"]


def minor(amount: str | None) -> int | None:
    """A Money amount string ("1234.50") as minor units."""
    if amount is None:
        return None
    whole, _, cents = str(amount).partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((cents or "0").ljust(2, "0")))


def amount(minor_units: int) -> str:
    sign = "-" if minor_units < 0 else ""
    return f"{sign}{abs(minor_units) // 100}.{abs(minor_units) % 100:02d}"


# --- set-up -------------------------------------------------------------------------------


async def create_product(services, *, net_minor: int, vat_rate: int = 25, category: str = "Office",
                         name: str | None = None) -> str:
    """A product; returns its global id. With 25 % VAT a net of 80.00 is a gross of 100.00."""
    n = next(_sequence)
    async with services.db.transaction() as session:
        product = Product(sku=f"SP-{uuid.uuid4().hex[:10]}", name=name or f"Spend product {n}", description="",
                          unit="pcs", category=category, unit_price_minor=net_minor, currency="NOK", vat_rate=vat_rate)
        product.refresh_search_text()
        session.add(product)
        await session.flush()
        return to_global_id("Product", product.id)


async def create_cost_centre(services, company_id: int, *, code: str | None = None, name: str | None = None) -> int:
    n = next(_sequence)
    async with services.db.transaction() as session:
        centre = CostCentre(company_id=company_id, name=name or f"Cost centre {n}", code=code or f"CC{n}",
                            street="Gate 1", postal_code="0150", city="Oslo")
        session.add(centre)
        await session.flush()
        return centre.id


async def attach(services, membership_ids: list[int], centre_id: int, *, default: bool = True) -> None:
    async with services.db.transaction() as session:
        session.add_all(MemberCostCentre(membership_id=m, cost_centre_id=centre_id, is_default=default)
                        for m in membership_ids)


@dataclass
class SpendTenant:
    tenant: Tenant
    centre_id: int
    extra: list[Member] = field(default_factory=list)

    def __getitem__(self, role: Role) -> Member:
        return self.tenant[role]

    @property
    def company_id(self) -> int:
        return self.tenant.company_id

    @property
    def group_id(self) -> int:
        return self.tenant.group_id

    @property
    def centre_gid(self) -> str:
        return to_global_id("CostCentre", self.centre_id)


async def spend_tenant(api: Api, roles=tuple(Role)) -> SpendTenant:
    """A company with one signed-in member per role, all attached to one default cost centre."""
    tenant = await api.tenant(roles)
    centre_id = await create_cost_centre(api.services, tenant.company_id, code="MAIN", name="Head office")
    await attach(api.services, [m.membership_id for m in tenant.members.values()], centre_id)
    return SpendTenant(tenant, centre_id)


async def add_member(api: Api, st: SpendTenant, role: Role = Role.CUSTOMER, *, group_id: int | None = None,
                     sign_in: bool = True, first_name: str = "Test") -> Member:
    """Another member of the tenant, attached to its default cost centre (signed in unless told)."""
    member = await create_member(api.services, st.company_id, group_id or st.group_id, role, first_name=first_name)
    await attach(api.services, [member.membership_id], st.centre_id)
    if sign_in:
        await api.token_for(member)
    st.extra.append(member)
    return member


async def fill_cart(api: Api, buyer: Member, product_gid: str, quantity: int = 1, **cart) -> None:
    await ok(api, "addToCart", {"productId": product_gid, "quantity": quantity}, buyer.token)
    if cart:
        await ok(api, "updateCart", cart, buyer.token)


async def submit(api: Api, buyer: Member, key: str | None = None) -> dict:
    return await call(api, "submitOrder", {"idempotencyKey": key or new_key()}, buyer.token)


async def place_order(api: Api, buyer: Member, product_gid: str, quantity: int = 1, **cart) -> dict:
    """Fill the buyer's cart and submit it; the submitOrder result."""
    await fill_cart(api, buyer, product_gid, quantity, **cart)
    return await submit(api, buyer)


async def placed(api: Api, buyer: Member, product_gid: str, quantity: int = 1, **cart) -> dict:
    """Place an order that must succeed; the order."""
    result = await place_order(api, buyer, product_gid, quantity, **cart)
    assert result["__typename"] == "OrderPayload", result
    return result["order"]


async def get_order(api: Api, order_gid: str, token: str) -> dict | None:
    query = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
    return (await api.query(query, {"id": order_gid}, token))["order"]


async def cart(api: Api, buyer: Member) -> dict | None:
    return (await api.query("{ cart { id status lines { quantity } } }", token=buyer.token))["cart"]


BUDGETS = f"query($date: Date) {{ budgets(date: $date) {{ {BUDGET_FIELDS} }} }}"


async def budgets(api: Api, token: str, date: str | None = None) -> dict[str, dict]:
    """The budgets the caller sees, by name."""
    data = await api.query(BUDGETS, {"date": date}, token)
    return {b["name"]: b for b in data["budgets"]}


async def save_budget(api: Api, token: str, *, name: str, owner_type: str, owner_gid: str, amount_minor: int,
                      action: str = "BLOCK", period: str = "MONTHLY", starts_on: str | None = None,
                      ends_on: str | None = None, budget_gid: str | None = None) -> dict:
    data = {"name": name, "ownerType": owner_type, "ownerId": owner_gid, "period": period,
            "amount": amount(amount_minor), "action": action, "startsOn": starts_on, "endsOn": ends_on}
    if budget_gid:
        data["id"] = budget_gid
    return await call(api, "saveBudget", data, token)


async def group_budget(api: Api, st: SpendTenant, amount_minor: int, action: str = "BLOCK", period: str = "MONTHLY",
                       name: str = "Group budget", **kw) -> dict:
    result = await save_budget(api, st[Role.ADMIN].token, name=name, owner_type="GROUP",
                               owner_gid=to_global_id("Group", st.group_id), amount_minor=amount_minor,
                               action=action, period=period, **kw)
    assert result["__typename"] == "BudgetPayload", result
    return result["budget"]


def tier(*roles: str, users: tuple[str, ...] = ()) -> dict:
    return {"roles": list(roles), "userIds": list(users)}


async def save_rule(api: Api, token: str, *, name: str, condition: str, tiers: list[dict], **extra) -> dict:
    return await call(api, "saveApprovalRule", {"name": name, "condition": condition, "tiers": tiers, **extra}, token)


async def rule(api: Api, st: SpendTenant, *, name: str, condition: str, tiers: list[dict], **extra) -> dict:
    result = await save_rule(api, st[Role.ADMIN].token, name=name, condition=condition, tiers=tiers, **extra)
    assert result["__typename"] == "ApprovalRulePayload", result
    return result["rule"]


async def my_limit(api: Api, token: str) -> dict:
    return (await api.query(f"{{ myPurchaseLimit {{ {LIMIT_FIELDS} }} }}", token=token))["myPurchaseLimit"]


async def company_credit(api: Api, token: str) -> dict:
    return (await api.query(f"{{ companyCredit {{ {CREDIT_FIELDS} }} }}", token=token))["companyCredit"]


# --- direct reads of what the API guards ----------------------------------------------------


def order_pk(order_gid: str) -> int:
    return decode_id(order_gid, "Order")


async def usage(services, budget_gid: str) -> dict:
    """{period_start: (committed, spent)} of a budget."""
    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(BudgetUsage).where(
            BudgetUsage.budget_id == decode_id(budget_gid, "Budget")))).all()
        return {u.period_start: (u.committed_minor, u.spent_minor) for u in rows}


async def committed_now(services, budget_gid: str) -> int:
    rows = await usage(services, budget_gid)
    return sum(committed for committed, _ in rows.values())


async def month_spend(services, membership_id: int) -> int:
    async with services.db.read_sessions() as session:
        value = await session.scalar(select(MemberMonthlySpend.committed_minor).where(
            MemberMonthlySpend.membership_id == membership_id,
            MemberMonthlySpend.month_start == utcnow().date().replace(day=1)))
        return value or 0


async def credit_row(services, company_id: int) -> tuple[int, int] | None:
    """(credit limit, outstanding), or None before the account exists."""
    async with services.db.read_sessions() as session:
        account = await session.get(CreditAccount, company_id)
        return (account.credit_limit_minor, account.outstanding_minor) if account else None


async def orders_of(services, company_id: int) -> dict[str, int]:
    """Submitted orders of a company by status (carts are not counted)."""
    async with services.db.read_sessions() as session:
        rows = await session.execute(select(Order.status, func.count()).where(
            Order.company_id == company_id, Order.status != "draft").group_by(Order.status))
        return {status: count for status, count in rows}


async def charges(services, order_gid: str) -> list[tuple[str, int, bool]]:
    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(OrderCharge).where(
            OrderCharge.order_id == order_pk(order_gid)).order_by(OrderCharge.id))).all()
        return [(c.kind, c.amount_minor, c.released) for c in rows]


async def steps(services, order_gid: str) -> list[OrderApprovalStep]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(OrderApprovalStep).where(
            OrderApprovalStep.order_id == order_pk(order_gid)).order_by(OrderApprovalStep.id))).all())


async def outbox(services) -> list[tuple[str, str]]:
    """(recipient, subject) of every queued mail."""
    async with services.db.read_sessions() as session:
        rows = await session.execute(select(OutboxMessage.recipient, OutboxMessage.subject).order_by(OutboxMessage.id))
        return [(r, s) for r, s in rows]


async def audit_rows(services, company_id: int) -> list[AuditEntry]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(AuditEntry).where(
            AuditEntry.company_id == company_id).order_by(AuditEntry.id))).all())


async def set_member(services, membership_id: int, **values) -> None:
    """Change a membership directly (limits, payment methods) to set a scene."""
    async with services.db.transaction() as session:
        member = await session.get_one(Membership, membership_id)
        for key, value in values.items():
            setattr(member, key, value)
