"""The worlds the role matrix runs in, the features an entry may need, and the state snapshot.

A world is two companies ("own" and "other"), each as registration makes one (a default cost
centre and a credit account) with one member per role and a target customer whom nobody signs in
as; plus, unless anonymous, a signed-in session of the caller (a member of "own", or a platform
operator). Features (orders in several states, carts, saved carts, locations, cost centres,
budgets, invoice applications, ...) are built on demand with the application's own use cases, so
they hold the same invariants as data made through the API.

`snapshot` reads, in one statement, every row that belongs to the given companies (found through
the foreign keys of the models, so a new table is covered without an edit) and, in full, the
global catalogue and the row count of every table.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import String, Text, bindparam, cast, func, literal, or_, select, union_all, update

import models
from models import (
    ApiScope,
    AuthSession,
    Company,
    Group,
    LinkPurpose,
    LinkToken,
    Membership,
    MembershipStatus,
    OrderChange,
    OrderLine,
    PermissionRestriction,
    Role,
    User,
    WebhookDelivery,
)
from models.base import utcnow
from models.webhook import WebhookEvent
from policies.actor import Actor
from resolvers import (
    api_client,
    approval_rule,
    cart,
    catalogue,
    cost_centre,
    credit,
    delegation,
    location,
    order,
    order_submit,
    saved_cart,
    webhook,
)
from resolvers import budget as budget_use_cases
from resolvers.context import UseCaseContext
from resolvers.security import token_digest
from resolvers.spend import ensure_credit_account
from schema.relay import to_global_id
from tests.factories import PASSWORD, VALID_NO_ORG_NUMBERS, Member

MEMBER_CALLERS = ("admin", "manager", "customer", "order_approver", "accountant")
# API clients of the "own" company, one per scope and one with every scope: their token is the client's secret.
CLIENT_SCOPES = {
    "client_orders": (ApiScope.ORDERS_READ,), "client_invoices": (ApiScope.INVOICES_READ,),
    "client_catalogue": (ApiScope.CATALOGUE_READ,), "client_webhooks": (ApiScope.WEBHOOKS_MANAGE,),
    "client_all": tuple(ApiScope),
}
CLIENT_CALLERS = tuple(CLIENT_SCOPES)
MISSING_PK = 10**9
_sequence = itertools.count(1)
_invoice_numbers = itertools.count(900_001)


# --- the world: two companies, one member per role plus a target customer -------------------------------------

@dataclass
class Side:
    label: str
    company_id: int
    name: str
    group_id: int  # "Default": every member is in it
    spare_group_id: int  # "Spare": empty
    members: dict[str, Member]  # by caller name
    target: Member  # a customer nobody signs in as: what user mutations act on
    values: dict[str, Any] = field(default_factory=dict)  # what features built: ids of orders, carts, ...

    @property
    def gid(self) -> str:
        return to_global_id("Company", self.company_id)

    @property
    def group_gid(self) -> str:
        return to_global_id("Group", self.group_id)

    @property
    def spare_gid(self) -> str:
        return to_global_id("Group", self.spare_group_id)

    @property
    def member_gids(self) -> set[str]:
        return {m.gid for m in self.members.values()} | {self.target.gid}

    def id_of(self, type_name: str, variant: str | None = None) -> int:
        """The primary key of this side's object of a type (a variant picks among several)."""
        keys = {
            "Company": lambda: self.company_id, "User": lambda: self.target.membership_id,
            "Group": lambda: self.spare_group_id,
            "Order": lambda: self.values[f"order_{variant or 'approved'}"],
            "DeliveryLocation": lambda: self.values["location"], "EndCustomer": lambda: self.values["end_customer"],
            "DeliverySlot": lambda: self.values["slot"],
            "SavedCart": lambda: self.values[f"saved_{variant or 'shared'}"],
            "CostCentre": lambda: self.values["cost_centre"], "Budget": lambda: self.values["budget"],
            "ApprovalRule": lambda: self.values["rule"], "InvoiceApplication": lambda: self.values["application"],
            "OrderLine": lambda: self.values["fulfilled_line"], "AuditEntry": lambda: self.values["audit_entry"],
            "Person": lambda: self.target.user_id, "OrderChange": lambda: self.values["order_change"],
            "ApiClient": lambda: self.values["api_client"],
            "WebhookEndpoint": lambda: self.values["webhook_endpoint"],
            "WebhookDelivery": lambda: self.values["webhook_delivery"],
            "ApprovalDelegation": lambda: self.values["delegation"],
            "Invoice": lambda: self.values[variant or "invoice"],
        }
        return keys[type_name]()


@dataclass
class Catalogue:
    active: int
    paper: int
    inactive: int
    operator: Member  # a platform operator (also the operator caller)


@dataclass
class World:
    api: Any
    catalogue: Catalogue
    own: Side
    other: Side
    caller: str
    token: str | None = None
    features: set[str] = field(default_factory=set)
    values: dict[str, Any] = field(default_factory=dict)  # the caller's own things (cart, saved cart)

    @property
    def services(self):
        return self.api.services

    @property
    def caller_member(self) -> Member | None:
        if self.caller == "operator":
            return self.catalogue.operator
        return self.own.members.get(self.caller)

    def side(self, target: str) -> Side | None:
        return {"own": self.own, "other": self.other, "self": self.own, "all": self.own}.get(target.split(":")[0])

    def gid(self, target: str, type_name: str, variant: str | None = None) -> str:
        """The global id that a target names: its side's object of the type, or a missing one."""
        if type_name == "Product":
            return to_global_id("Product", MISSING_PK if target.startswith("missing") else self.catalogue.active)
        if target == "self":
            member = self.caller_member if self.caller in MEMBER_CALLERS else self.own.target
            return member.gid
        side = self.side(target)
        return to_global_id(type_name, side.id_of(type_name, variant) if side else MISSING_PK)

    async def fetch(self, query) -> list:
        async with self.services.db.read_sessions() as session:
            return list((await session.execute(query)).all())


async def run_as(world: World, member: Member | None, use_case: Callable[[UseCaseContext], Awaitable[Any]]) -> Any:
    """Run one of the application's use cases as a member (or as the platform operator when None), in one
    transaction, exactly as a mutation does: how the features of a world are built."""
    services = world.services
    if member is None or member is world.catalogue.operator:
        operator = world.catalogue.operator
        actor = Actor(operator.user_id, 0, None, None, None, frozenset(), True)
    else:
        actor = Actor(member.user_id, 0, member.membership_id, member.company_id, member.role, frozenset(), False)
    async with services.db.write_sessions() as session:
        await session.begin()
        result = await use_case(UseCaseContext(services=services, session=session, actor=actor))
        await session.commit()
    return result


async def _company(session, ctx: UseCaseContext, label: str, password_hash: str) -> Side:
    """A company as registration makes one (default cost centre, credit account), with one member per role."""
    n = next(_sequence)
    company = Company(
        name=f"{label.title()} {n} AS", country="NO", org_number=VALID_NO_ORG_NUMBERS[n % len(VALID_NO_ORG_NUMBERS)],
        currency="NOK", street="Gate 1", postal_code="0150", city="Oslo", contact_email=f"post{n}@{label}.example.com",
    )
    session.add(company)
    await session.flush()
    default, spare = Group(company_id=company.id, name="Default"), Group(company_id=company.id, name="Spare")
    keys = [(r.value, r) for r in Role] + [("target", Role.CUSTOMER)]
    users = [
        User(email=f"{key}{n}@{label}.example.com", first_name="Test", last_name=key.title(),
             password_hash=password_hash)
        for key, _ in keys
    ]
    session.add_all([default, spare, *users])
    await session.flush()
    memberships = [
        Membership(company_id=company.id, user_id=user.id, group_id=default.id, role=role.value,
                   status=MembershipStatus.ACTIVE.value, payment_methods=["card"])
        for user, (_, role) in zip(users, keys, strict=True)
    ]
    session.add_all(memberships)
    await session.flush()
    centre = await cost_centre.create_default_cost_centre(ctx, company)
    for membership in memberships:
        await cost_centre.attach_default(ctx, membership)
    await ensure_credit_account(ctx, company.id)
    members = {
        key: Member(m.id, u.id, company.id, u.email, role)
        for (key, role), u, m in zip(keys, users, memberships, strict=True)
    }
    target = members.pop("target")
    side = Side(label, company.id, company.name, default.id, spare.id, members, target)
    side.values["default_cost_centre"] = centre.id
    return side


async def build_world(api, catalogue_: Catalogue, caller: str, password_hash: str) -> World:
    services = api.services
    async with services.db.write_sessions() as session:
        await session.begin()
        ctx = UseCaseContext(services=services, session=session, actor=None)
        own = await _company(session, ctx, "own", password_hash)
        other = await _company(session, ctx, "other", password_hash)
        world = World(api, catalogue_, own, other, caller)
        if caller in CLIENT_SCOPES:
            admin = own.members["admin"]
            actor = Actor(admin.user_id, 0, admin.membership_id, own.company_id, admin.role, frozenset(), False)
            issued = await api_client.create_client(
                UseCaseContext(services=services, session=session, actor=actor), name=caller,
                scopes=list(CLIENT_SCOPES[caller]))
            world.token = issued.secret  # what createApiClient gives (it has its own rows in the matrix)
        elif caller != "anonymous":
            member = world.caller_member
            membership_id = member.membership_id if caller != "operator" else None
            auth_session = AuthSession(user_id=member.user_id, membership_id=membership_id)
            session.add(auth_session)
            await session.flush()
            # What `login` issues (login itself has its own rows in the matrix).
            world.token, _ = services.tokens.issue(
                user_id=member.user_id, session_id=auth_session.id, membership_id=membership_id)
        await session.commit()
    return world


# --- features: what an entry needs in a world, built with the application's use cases ------------------------

async def _location(w: World) -> None:
    for side in (w.own, w.other):
        loc = await run_as(w, side.members["admin"], lambda ctx: location.save_location(
            ctx, location_id=None, name="Unit A", street="Vei 3", postal_code="0152", city="Oslo",
            slots=[location.SlotSpec(0, time(8), time(10))]))
        side.values.update(location=loc.id, slot=loc.slots[0].id)
        customer = await run_as(w, side.members["admin"], partial(
            location.save_end_customer, end_customer_id=None, name="Eve Consignee", note="", location_id=loc.id))
        side.values["end_customer"] = customer.id


async def _cost_centre(w: World) -> None:
    for side in (w.own, w.other):
        centre = await run_as(w, side.members["admin"], lambda ctx: cost_centre.save_cost_centre(
            ctx, cost_centre_id=None, spec=cost_centre.CostCentreSpec("Project", "PRJ", "Vei 9", "0153", "Oslo")))
        side.values["cost_centre"] = centre.id


async def _budget(w: World) -> None:
    from models.budget import BudgetAction, BudgetOwner, BudgetPeriod
    for side in (w.own, w.other):
        spec = budget_use_cases.BudgetSpec(
            "Default group", BudgetOwner.GROUP, side.group_id, BudgetPeriod.MONTHLY, 10_000_000_00, BudgetAction.WARN)
        admin = side.members["admin"]
        status = await run_as(w, admin, partial(budget_use_cases.save_budget, budget_id=None, spec=spec))
        side.values["budget"] = status.budget.id
        ((entry,),) = await w.fetch(select(models.AuditEntry.id).where(
            models.AuditEntry.company_id == side.company_id, models.AuditEntry.entity == "budget"))
        side.values["audit_entry"] = entry


async def _submit(w: World, buyer: Member, product: int = 0) -> int:
    await run_as(w, buyer, lambda ctx: cart.add_to_cart(
        ctx, product_id=product or w.catalogue.active, sku=None, quantity=2, substitution_allowed=None))
    view = await run_as(w, buyer, lambda ctx: order_submit.submit_order(ctx, idempotency_key=secrets.token_hex(8)))
    return view.id


async def _orders(w: World) -> None:
    """The target's orders: one approved, one fulfilled (with a line), one pending approval (after an
    approval rule that sends every later order to administrators and order approvers)."""
    for side in (w.own, w.other):
        side.values["order_approved"] = await _submit(w, side.target)
        (change,) = await w.fetch(select(OrderChange.id).where(OrderChange.order_id == side.values["order_approved"])
                                  .order_by(OrderChange.id).limit(1))
        side.values["order_change"] = change[0]  # its submission, in the change feed
        fulfilled = await _submit(w, side.target)
        await run_as(w, None, partial(order.fulfil_order, order_id=fulfilled, comment=""))
        side.values["order_fulfilled"] = fulfilled
        (line,) = await w.fetch(select(OrderLine.id).where(OrderLine.order_id == fulfilled))
        side.values["fulfilled_line"] = line[0]
        every_order = approval_rule.RuleSpec(
            "Every order", approval_rule.RuleCondition.TOTAL_ABOVE, threshold_minor=0,
            tiers=[approval_rule.TierSpec(roles=[Role.ADMIN, Role.ORDER_APPROVER])])
        rule = await run_as(w, side.members["admin"], partial(approval_rule.save_rule, rule_id=None, spec=every_order))
        side.values["rule"] = rule.id
        side.values["order_pending"] = await _submit(w, side.target)


async def _cart(w: World) -> None:
    for side in (w.own, w.other):
        view = await run_as(w, side.target, lambda ctx: cart.add_to_cart(
            ctx, product_id=w.catalogue.active, sku=None, quantity=1, substitution_allowed=None))
        side.values["cart"] = view.id


async def _saved_carts(w: World) -> None:
    """Per company: the target's private saved cart and the administrator's shared one."""
    for side in (w.own, w.other):
        for owner, key in ((side.target, "saved_private"), (side.members["admin"], "saved_shared")):
            await run_as(w, owner, lambda ctx: cart.add_to_cart(
                ctx, product_id=w.catalogue.paper, sku=None, quantity=1, substitution_allowed=None))
            saved, _ = await run_as(w, owner, partial(saved_cart.save_cart, name=f"{key} {side.label}"))
            side.values[key] = saved.id
        await run_as(w, side.members["admin"], partial(
            saved_cart.update_saved_cart, saved_cart_id=side.values["saved_shared"], name=None, lines=None,
            shared=True))


async def _caller_cart(w: World) -> None:
    member = w.own.members.get(w.caller)
    if member is not None and member.role in (Role.ADMIN, Role.MANAGER, Role.CUSTOMER):
        view = await run_as(w, member, lambda ctx: cart.add_to_cart(
            ctx, product_id=w.catalogue.active, sku=None, quantity=1, substitution_allowed=None))
        w.values["cart"] = view.id


async def _caller_saved_cart(w: World) -> None:
    member = w.own.members.get(w.caller)
    if member is not None and "cart" in w.values:
        saved, _ = await run_as(w, member, lambda ctx: saved_cart.save_cart(ctx, name="Mine"))
        w.values["saved"] = saved.id


async def _invoice_application(w: World) -> None:
    for side in (w.own, w.other):
        status = await run_as(w, side.members["admin"], lambda ctx: credit.apply_for_invoice(ctx, message="Please"))
        side.values["application"] = status.latest_application.id


async def setup_refresh(w: World) -> None:
    for side in (w.own, w.other):
        side.values["refresh"] = (await w.api.login(side.target.email))["refreshToken"]


async def setup_reset(w: World) -> None:
    async with w.services.db.transaction() as session:
        for side in (w.own, w.other):
            side.values["link"] = secrets.token_urlsafe(24)
            session.add(LinkToken(
                purpose=LinkPurpose.RESET_PASSWORD.value, token_hash=token_digest(side.values["link"]),
                user_id=side.target.user_id, expires_at=utcnow() + timedelta(hours=1)))


async def setup_invitations(w: World) -> None:
    async with w.services.db.transaction() as session:
        for side in (w.own, w.other):
            user = User(email=f"invited.{side.company_id}@example.com")
            session.add(user)
            await session.flush()
            membership = Membership(
                company_id=side.company_id, user_id=user.id, group_id=side.group_id, role=Role.CUSTOMER.value,
                status=MembershipStatus.INVITED.value, payment_methods=[])
            session.add(membership)
            await session.flush()
            side.values.update(link=secrets.token_urlsafe(24), invited=membership.id)
            session.add(LinkToken(
                purpose=LinkPurpose.INVITATION.value, token_hash=token_digest(side.values["link"]),
                user_id=user.id, membership_id=membership.id, expires_at=utcnow() + timedelta(hours=1)))


async def setup_deactivated(w: World) -> None:
    async with w.services.db.transaction() as session:
        targets = [w.own.target.membership_id, w.other.target.membership_id]
        await session.execute(update(Membership).where(Membership.id.in_(targets))
                              .values(status=MembershipStatus.DEACTIVATED.value))


async def setup_restricted(w: World) -> None:
    async with w.services.db.transaction() as session:
        for side in (w.own, w.other):
            session.add(PermissionRestriction(membership_id=side.target.membership_id, company_id=side.company_id,
                                              permission="order:create"))


async def _api_client(w: World) -> None:
    """An API client of each company (besides a client caller's own), made by its administrator."""
    for side in (w.own, w.other):
        issued = await run_as(w, side.members["admin"], partial(
            api_client.create_client, name=f"Integration {side.label}", scopes=[ApiScope.ORDERS_READ]))
        side.values["api_client"] = issued.view.client.id


async def _delegations(w: World) -> None:
    """In each company, its administrator stands in for the order approver, who is away for a week."""
    for side in (w.own, w.other):
        view = await run_as(w, side.members["admin"], partial(
            delegation.set_delegate, delegate_id=side.members["admin"].membership_id, starts_at=None,
            ends_at=utcnow() + timedelta(days=7), approver_id=side.members["order_approver"].membership_id))
        side.values["delegation"] = view.delegation.id


async def _webhooks(w: World) -> None:
    """A webhook endpoint of each company, made by its administrator, with one delivery in its log."""
    for side in (w.own, w.other):
        endpoint, _ = await run_as(w, side.members["admin"], partial(
            webhook.create_endpoint, url=f"https://erp.{side.label}.example.com/hooks",
            events=[WebhookEvent.ORDER_APPROVED], description="ERP"))
        async with w.services.db.transaction() as session:
            delivery = WebhookDelivery(
                company_id=side.company_id, endpoint_id=endpoint.id, message_id=f"msg_world_{endpoint.id}",
                event_type=WebhookEvent.ORDER_APPROVED.value, payload={"type": "order.approved"}, status="succeeded",
                attempts=1)
            session.add(delivery)
            await session.flush()
        side.values.update(webhook_endpoint=endpoint.id, webhook_delivery=delivery.id)


async def _invoices(w: World) -> None:
    """Each company's fulfilled order invoiced (to its cost centre), the invoice credited by a credit note, and a
    payment: rows as an invoice run and a registered payment leave them."""
    from models import Invoice, InvoiceLine, Payment
    from models.invoice import InvoiceKind
    today = utcnow().date()
    async with w.services.db.transaction() as session:
        for side in (w.own, w.other):
            made = {}
            for kind, credited in ((InvoiceKind.INVOICE, None), (InvoiceKind.CREDIT_NOTE, "invoice")):
                number = next(_invoice_numbers)
                document = Invoice(
                    kind=kind.value, number=number, company_id=side.company_id,
                    cost_centre_id=side.values["default_cost_centre"],
                    credited_invoice_id=made.get(credited), issue_date=today, due_date=today + timedelta(days=32),
                    currency="NOK", net_minor=100_00, vat_minor=25_00, gross_minor=125_00,
                    balance_due_minor=125_00, kid=f"{number:08d}" if credited is None else None,
                    recipient_name=side.name, ehf_xml=b"<Invoice/>")
                session.add(document)
                await session.flush()
                session.add(InvoiceLine(
                    invoice_id=document.id, order_id=side.values["order_fulfilled"], sku="SKU", name="Thing",
                    unit="pcs", quantity=1, unit_price_minor=100_00, vat_rate=25, net_minor=100_00))
                made["invoice" if credited is None else "credit_note"] = document.id
            session.add(Payment(company_id=side.company_id, invoice_id=made["invoice"], amount_minor=10_00,
                                currency="NOK", received_on=today))
            side.values.update(made)


async def _own_product(w: World) -> None:
    """A product of the operator's own (the catalogue is global: changing the shared ones would leak between cases)."""
    fields = catalogue.ProductFields(
        sku=f"OWN-{w.own.company_id}", name="Editable", unit="pcs", category="Food", unit_price_minor=100, vat_rate=25)
    product = await run_as(w, None, partial(catalogue.create_product, fields=fields))
    w.values["product"] = product.id


FEATURES: dict[str, Callable[[World], Awaitable[None]]] = {  # built in this order
    "location": _location, "cost_centre": _cost_centre, "budget": _budget, "orders": _orders, "cart": _cart,
    "saved_carts": _saved_carts, "caller_cart": _caller_cart, "caller_saved_cart": _caller_saved_cart,
    "invoice_application": _invoice_application, "refresh": setup_refresh, "reset_link": setup_reset,
    "invitation": setup_invitations, "deactivated": setup_deactivated, "restricted": setup_restricted,
    "own_product": _own_product, "api_client": _api_client, "webhooks": _webhooks, "delegations": _delegations,
    "invoices": _invoices,
}
FEATURE_NEEDS = {"caller_saved_cart": {"caller_cart"}, "invoices": {"orders"}}


async def ensure(world: World, needs: tuple[str, ...]) -> None:
    wanted = set(needs)
    for feature in needs:
        wanted |= FEATURE_NEEDS.get(feature, set())
    for name, build in FEATURES.items():
        if name in wanted and name not in world.features:
            await build(world)
            world.features.add(name)


# --- the state, read back from the database in one statement --------------------------------------------------

# Delivered after commit, in the background.
VOLATILE = {"mail_outbox": {"sent_at", "transport", "attempts", "last_error"},
            # A queued job's progress is the background delivery's (a mail sent after commit marks its retry done);
            # which jobs exist, with what payload, is still compared.
            "jobs": {"status", "run_at", "attempts", "locked_by", "locked_until", "last_error", "finished_at"},
            # An API client's use is bookkeeping: a refused call draws on its rate-limit bucket and counts as use.
            "api_clients": {"last_used_at", "bucket_milli", "bucket_at_ms"}}
NOT_STATE = {"login_throttles"}  # failed sign-ins are counted on purpose, even by a refused login


def _row_text(columns) -> Any:
    text = None
    for column in columns:
        part = func.coalesce(cast(column, Text), literal("~"))
        text = part if text is None else text.op("||")(literal("|")).op("||")(part)
    return text


def _scope_conditions(companies) -> dict[str, Any]:
    """Per table, the WHERE condition that selects the rows belonging to the given companies."""
    tables = {t.name: t for t in models.Base.metadata.sorted_tables}
    scope: dict[str, Any] = {}
    memberships = tables["memberships"]
    scope["companies"] = tables["companies"].c.id.in_(companies)
    members_of_companies = select(memberships.c.user_id).where(memberships.c.company_id.in_(companies))
    scope["users"] = tables["users"].c.id.in_(members_of_companies)
    for table in models.Base.metadata.sorted_tables:
        if table.name in scope or table.name in NOT_STATE:
            continue
        if "company_id" in table.c:
            scope[table.name] = table.c.company_id.in_(companies)
            continue
        via = []
        for fk in table.foreign_keys:
            parent = fk.column.table
            if parent.name in scope and parent is not table:
                via.append(fk.parent.in_(select(fk.column).where(scope[parent.name])))
        if via:
            scope[table.name] = or_(*via)
    users = tables["users"]
    scope["mail_outbox"] = tables["mail_outbox"].c.recipient.in_(select(users.c.email).where(scope["users"]))
    return scope


def _snapshot_statement(*, full: bool):
    companies = bindparam("companies", expanding=True)
    scope = _scope_conditions(companies)
    parts = []
    for table in models.Base.metadata.sorted_tables:
        if table.name in NOT_STATE:
            continue
        columns = [c for c in table.c if c.name not in VOLATILE.get(table.name, ())]
        key = _row_text(table.primary_key.columns)
        if table.name in scope:
            parts.append(select(literal(table.name, String), key, _row_text(columns)).where(scope[table.name]))
        elif full:  # global tables (the catalogue): every row
            parts.append(select(literal(table.name, String), key, _row_text(columns)))
        if full:
            row_count = select(literal("#rows", String), literal(table.name, String), cast(func.count(), Text))
            parts.append(row_count.select_from(table))
    return union_all(*parts)


FULL_SNAPSHOT = _snapshot_statement(full=True)
COMPANY_SNAPSHOT = _snapshot_statement(full=False)


async def snapshot(world: World, sides: tuple[str, ...] = ("own", "other"), *, full: bool = True) -> dict:
    """Every row belonging to the given companies (and, in full, the catalogue and the size of every table)."""
    companies = [getattr(world, label).company_id for label in sides]
    async with world.services.db.read_sessions() as session:
        rows = (await session.execute(FULL_SNAPSHOT if full else COMPANY_SNAPSHOT, {"companies": companies})).all()
    return {(table, key): value for table, key, value in rows}


def changes(before: dict, after: dict) -> list[str]:
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            lines.append(f"{key[0]} {key[1]}: {before.get(key)!r} -> {after.get(key)!r}")
    return lines


# --- per module: the catalogue (global), a platform operator, and the cached worlds ---------------------------

async def create_matrix_state(matrix_api) -> dict:
    """The shared catalogue, a platform operator, and the cache of worlds that cases may only read."""
    services = matrix_api.services
    password_hash = await services.passwords.hash(PASSWORD)
    async with services.db.transaction() as session:
        user = User(email="operator@platform.example.com", first_name="Op", last_name="Erator", is_operator=True,
                    password_hash=password_hash)
        session.add(user)
        await session.flush()
        operator = Member(0, user.id, 0, user.email, Role.ADMIN)
    ids = {}
    probe = World(matrix_api, Catalogue(0, 0, 0, operator), None, None, "operator")
    for key, category, active in (("active", "Food", True), ("paper", "Paper", True), ("inactive", "Food", False)):
        fields = catalogue.ProductFields(
            sku=f"MATRIX-{key}", name=f"Matrix {key}", unit="pcs", category=category, unit_price_minor=12_50,
            vat_rate=15)
        product = await run_as(probe, None, partial(catalogue.create_product, fields=fields))
        if not active:
            deactivate = catalogue.ProductFields(active=False)
            await run_as(probe, None, partial(catalogue.update_product, product_id=product.id, fields=deactivate))
        ids[key] = product.id
    return {"catalogue": Catalogue(ids["active"], ids["paper"], ids["inactive"], operator), "hash": password_hash,
            "worlds": {}, "api": matrix_api}


async def world_for(matrix: dict, caller: str, needs: tuple[str, ...], *, fresh: bool) -> World:
    if not fresh and caller in matrix["worlds"]:
        world = matrix["worlds"][caller]
    else:
        world = await build_world(matrix["api"], matrix["catalogue"], caller, matrix["hash"])
        if not fresh:
            matrix["worlds"][caller] = world
    await ensure(world, needs)
    return world
