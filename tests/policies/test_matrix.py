"""Tenant isolation and the role matrix, generated from the schema.

Every root field of Query and Mutation has an entry in ENTRIES, and
`test_every_root_field_has_an_entry` fails when the schema gains a field without one (Subscription's
root fields have theirs in tests/schema/test_subscription.py, run over a real WebSocket). An entry
holds the GraphQL document, how to build its variables for each *target*, and the exact outcome
for each caller:

    callers  anonymous; admin, manager, customer, order_approver of the "own" company; and a
             platform operator (outside every company)
    targets  own      an object of the caller's company (or the field itself when it takes no id)
             other    the same kind of object of another company
             missing  an id that exists nowhere
             self     the caller themself
             <side>:<variant>  a variation, such as own:pending (a pending order) or other:group

Outcomes: ALLOWED (checked further by the entry's `verify`), a GraphQL error with
`extensions.code` (UNAUTHENTICATED, FORBIDDEN, ...), a typed `MutationError` code in the union
result (NOT_FOUND, ...), or NULL (a query's "not found").

Every case runs in a world of two companies, each with one member per role, a target customer
that nobody signs in as, and whatever the entry needs (orders, carts, locations, budgets...),
built with the application's own use cases. A call that is expected to write (an allowed
mutation) gets a fresh world and may change only the company it targets; any other call runs in
a world cached per caller, and the whole state of both companies, plus the size of every table,
is compared before and after it: a refused call changes nothing. `test_answers_that_must_not_differ`
proves that another company's object gets, byte for byte, the answer of a missing id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import graphql
import pytest
from sqlalchemy import select, update

import models
from models import AuthSession, Company, Group, LinkPurpose, LinkToken, Membership, Order, OrderLine, User
from models.base import utcnow
from policies.permissions import OPERATOR_ROLE
from schema import build_schema
from schema.relay import parse_global_id, to_global_id
from tests.change_helpers import all_settled
from tests.factories import PASSWORD, error_code
from tests.policies.roles import EXPECTED_ROLE_PERMISSIONS
from tests.policies.world import (
    CLIENT_CALLERS,
    FEATURES,
    MEMBER_CALLERS,
    MISSING_PK,
    Side,
    World,
    changes,
    snapshot,
    world_for,
)

CALLERS = ("anonymous", *MEMBER_CALLERS, "operator", *CLIENT_CALLERS)
NEW_PASSWORD = "a-new-Password-123"


# --- outcomes ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    kind: str  # allowed | error (GraphQL error with extensions.code) | typed (MutationError code) | null
    code: str | None = None

    def __repr__(self) -> str:
        return f"{self.kind}:{self.code}" if self.code else self.kind


A = ALLOWED = Outcome("allowed")
N = NULL = Outcome("null")
U = UNAUTHENTICATED = Outcome("error", "UNAUTHENTICATED")
F = FORBIDDEN = Outcome("error", "FORBIDDEN")
NF = Outcome("typed", "NOT_FOUND")


def typed(code: str) -> Outcome:
    return Outcome("typed", code)


def row(anonymous, admin, manager, customer, order_approver, operator,
        clients: Outcome | dict[str, Outcome] | None = None, *, accountant: Outcome | None = None,
        ) -> dict[str, Outcome]:
    """What each caller gets. `clients`: what every API client caller gets, or clients(...) for each; without
    it the row is for people only, and the entry adds its clients (test_entry_is_well_formed checks).
    `accountant`: what the accountant gets, where it differs from the rule of `accountant_default`."""
    people = dict(zip(("anonymous", "admin", "manager", "customer", "order_approver", "operator"),
                      (anonymous, admin, manager, customer, order_approver, operator), strict=True))
    people["accountant"] = accountant or accountant_default(customer, order_approver)
    if clients is None:
        return people
    return people | (each_client(clients) if isinstance(clients, Outcome) else clients)


def accountant_default(customer: Outcome, order_approver: Outcome) -> Outcome:
    """The accountant holds neither order:create nor order:approve: where customers and order approvers get the
    same, so do accountants; where one of them is allowed by their own permission, accountants get the other's
    refusal (FORBIDDEN over a not-found: the permission is missing, not the object). Rows that need the
    accountant's own permissions (order:read_all, invoice:read, credit:read) say so."""
    if customer == order_approver:
        return customer
    refusals = {customer, order_approver} - {ALLOWED}
    return FORBIDDEN if FORBIDDEN in refusals else refusals.pop()


def clients(orders_read, invoices_read, catalogue_read, webhooks_manage, every_scope) -> dict[str, Outcome]:
    """What the API client callers get: one per scope, and one with every scope (world.CLIENT_SCOPES)."""
    return dict(zip(CLIENT_CALLERS, (orders_read, invoices_read, catalogue_read, webhooks_manage, every_scope),
                    strict=True))


def each_client(outcome: Outcome) -> dict[str, Outcome]:
    return clients(*[outcome] * 5)


def everyone(outcome: Outcome) -> dict[str, Outcome]:
    return row(*[outcome] * 6, clients=outcome)


def where_allowed(outcomes: dict[str, Outcome], instead: Outcome) -> dict[str, Outcome]:
    """The same row with every ALLOWED replaced: what those callers get for another target."""
    return {caller: instead if outcome == ALLOWED else outcome for caller, outcome in outcomes.items()}


# People only (what API clients get differs by entry, which adds it):
SIGNED_IN = row(U, A, A, A, A, A)  # any valid access token
MEMBERS = row(U, A, A, A, A, F)  # any role of a company (an operator acts for none)
# Permissions no API client scope holds:
USER_ADMINS = row(U, A, A, F, F, F, clients=F)  # user:read/create/update, group:*, location:manage, credit:read,
                                                # approval_rule:read
ADMIN_ONLY = row(U, A, F, F, F, F, clients=F)  # company:update, user:deactivate/restrict, budget:manage,
                                               # cost_centre:manage, audit:read, api_client:manage
BUYERS = row(U, A, A, A, F, F, clients=F)  # order:create, location:read
APPROVERS = row(U, A, F, F, A, F, clients=F)  # order:approve
OPERATOR = row(U, F, F, F, F, A, clients=F)  # catalogue:manage, order:fulfil, credit:manage
# API clients:
NO_CLIENT = each_client(F)  # no scope gives it, or a person's own (a session, `me`): refused
COMPANY_READERS = MEMBERS | each_client(A)  # company:read: every role and every scope
# catalogue:read: every person but accountants (who read the company's orders, invoices and credit, nothing else),
# CATALOGUE_READ clients
CATALOGUE_READERS = SIGNED_IN | clients(F, F, A, F, A) | {"accountant": F}
ORDER_READERS = clients(A, N, N, N, A)  # an order of the client's company: ORDERS_READ sees it, others find nothing
# webhook:manage and order:read_all (payloads carry whole orders): admins, clients with WEBHOOKS_MANAGE and ORDERS_READ
WEBHOOK_MANAGERS = row(U, A, F, F, F, F, clients=clients(F, F, F, F, A))


# --- entries -----------------------------------------------------------------------------------------------------

Variables = Callable[[World, str], dict]
Verify = Callable[[World, str, Any], Awaitable[None]]


@dataclass
class Spec:
    kind: str  # query | mutation
    document: str
    variables: Variables
    expect: dict[str, dict[str, Outcome]]  # target -> caller -> outcome
    verify: Verify | None = None  # checks the result of an allowed call (and the database after it)
    needs: tuple[str, ...] = ()  # features of the world
    same_answer: tuple[tuple[str, str], ...] = ()  # pairs of targets that must get identical responses
    changes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # target -> companies an allowed call may change
    unwrap: Callable[[Any], Any] | None = None  # the part of the result that carries the outcome
    same_answer_except: tuple[str, ...] = ()  # callers who may tell the pair apart (operators see every company)
    bugs: dict[str, str] = field(default_factory=dict)  # target -> an application bug that makes this row fail
    prepare: Callable[[World], Awaitable[None]] | None = None  # run before every case (features run once per world)

    def may_change(self, target: str) -> tuple[str, ...]:
        if target in self.changes:
            return self.changes[target]
        return ("other",) if target.startswith("other") else ("own",)


ERR = "... on MutationError { code message field }"
USER_FIELDS = "id email firstName role status group { id } restrictedPermissions"
ORDER_FIELDS = "id status number buyer { userId } lines { productId quantity substitutionAllowed } reference"
USER_PAYLOAD = f"... on UserPayload {{ user {{ {USER_FIELDS} }} }}"
ORDER_PAYLOAD = f"... on OrderPayload {{ order {{ {ORDER_FIELDS} }} }}"


def mutation(name: str, input_type: str | None, payload: str) -> str:
    if input_type is None:
        return f"mutation {{ {name} {{ __typename {payload} {ERR} }} }}"
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename {payload} {ERR} }} }}"


def no_variables(world: World, target: str) -> dict:
    return {}


def input_of(**build: Callable[[World, str], Any]) -> Variables:
    """Variables {"input": {...}} whose values are computed from the world and the target."""
    return lambda w, t: {"input": {key: value(w, t) if callable(value) else value for key, value in build.items()}}


def gid_of(type_name: str, variant: str | None = None):
    def target_variant(t: str) -> str | None:
        return t.split(":")[1] if ":" in t and type_name in ("Order", "SavedCart") else None
    return lambda w, t: w.gid(t, type_name, variant or target_variant(t))


# queries: the foundation

async def verify_me(w: World, t: str, r: dict) -> None:
    member = w.caller_member
    assert r["email"] == member.email
    if w.caller == "operator":
        assert (r["isOperator"], r["user"], r["company"], r["companies"]) == (True, None, None, [])
        assert set(r["permissions"]) == {p.name for p in EXPECTED_ROLE_PERMISSIONS[OPERATOR_ROLE]}
        return
    assert (r["user"]["id"], r["user"]["role"], r["isOperator"]) == (member.gid, member.role.name, False)
    assert r["company"]["id"] == w.own.gid
    assert [c["company"]["id"] for c in r["companies"]] == [w.own.gid]
    assert set(r["permissions"]) == {p.name for p in EXPECTED_ROLE_PERMISSIONS[member.role.value]}


async def verify_company(w: World, t: str, r: dict) -> None:
    assert (r["id"], r["name"]) == (w.own.gid, w.own.name)


async def verify_users(w: World, t: str, r: dict) -> None:
    ids = [edge["node"]["id"] for edge in r["edges"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == (w.own.member_gids if t in ("own", "all") else set())


async def verify_user(w: World, t: str, r: dict) -> None:
    assert r["id"] == w.gid(t, "User")


async def verify_groups(w: World, t: str, r: dict) -> None:
    nodes = {edge["node"]["id"]: (edge["node"]["name"], edge["node"]["memberCount"]) for edge in r["edges"]}
    # one member per role and the target customer
    assert nodes == {w.own.group_gid: ("Default", len(MEMBER_CALLERS) + 1), w.own.spare_gid: ("Spare", 0)}


async def verify_group(w: World, t: str, r: dict) -> None:
    assert (r["id"], r["name"], r["memberCount"]) == (w.own.spare_gid, "Spare", 0)


async def verify_node(w: World, t: str, r: dict) -> None:
    type_name = t.split(":")[1]
    assert (r["__typename"], r["id"]) == (type_name, w.gid(t, type_name))


# queries: ordering and spend control

async def verify_products(w: World, t: str, r: dict) -> None:
    nodes = {edge["node"]["id"]: edge["node"]["active"] for edge in r["edges"]}
    assert to_global_id("Product", w.catalogue.active) in nodes
    inactive = to_global_id("Product", w.catalogue.inactive)
    assert (inactive in nodes) == (w.caller == "operator")  # includeInactive is for operators only
    assert all(nodes[gid] for gid in nodes if gid != inactive)


async def verify_product(w: World, t: str, r: dict) -> None:
    assert r["id"] == to_global_id("Product", w.catalogue.active)


async def verify_categories(w: World, t: str, r: list) -> None:
    assert {"Food", "Paper"} <= set(r)


async def verify_locations(w: World, t: str, r: list) -> None:
    assert [location["id"] for location in r] == [to_global_id("DeliveryLocation", w.own.values["location"])]


async def verify_end_customers(w: World, t: str, r: dict) -> None:
    ids = [edge["node"]["id"] for edge in r["edges"]]
    assert ids == ([to_global_id("EndCustomer", w.own.values["end_customer"])] if t in ("own", "all") else [])


async def verify_cart(w: World, t: str, r: dict) -> None:
    assert (r["id"], r["status"], r["buyer"]["userId"]) == (
        to_global_id("Order", w.values["cart"]), "DRAFT", w.caller_member.gid)


async def visible_order_ids(w: World, side: Side) -> set[str]:
    """The target's submitted orders that the caller may see: managers and administrators of the
    company all of them (and its API clients with ORDERS_READ), order approvers those pending their
    decision, operators all, customers none (they see their own), other callers none."""
    rows = await w.fetch(select(Order.id, Order.status, Order.company_id).where(
        Order.buyer_id == side.target.membership_id, Order.status != "draft"))
    if w.caller == "operator" or (side is w.own and w.caller in ("admin", "manager", "accountant", "client_orders",
                                                                  "client_all")):
        return {to_global_id("Order", r.id) for r in rows}
    if side is w.own and w.caller == "order_approver":
        return {to_global_id("Order", r.id) for r in rows if r.status == "pending_approval"}
    return set()


async def verify_orders(w: World, t: str, r: dict) -> None:
    ids = {edge["node"]["id"] for edge in r["edges"]}
    side = w.side(t)
    assert ids == (await visible_order_ids(w, side) if side else set())
    assert all(edge["node"]["status"] != "DRAFT" for edge in r["edges"])


async def verify_order(w: World, t: str, r: dict) -> None:
    assert r["id"] == gid_of("Order")(w, t)
    assert r["id"] in await visible_order_ids(w, w.side(t))


async def all_changes_settled(w: World) -> None:
    await all_settled(w.services)


async def verify_order_changes(w: World, t: str, r: dict) -> None:
    """The changes of every order the caller may see (either company's), and of no other; the platform
    operator's also those of the other worlds' companies in the same database."""
    ids = {edge["node"]["order"]["id"] for edge in r["edges"]}
    if w.caller == "operator":
        # Every company's changes, oldest first: the first page may end before this world's orders.
        first_page = await w.fetch(select(models.OrderChange.order_id)
                                   .order_by(models.OrderChange.txid, models.OrderChange.id).limit(100))
        assert ids == {to_global_id("Order", order_id) for (order_id,) in first_page}
    else:
        assert ids == await visible_order_ids(w, w.own) | await visible_order_ids(w, w.other)
    assert {edge["node"]["kind"] for edge in r["edges"]} <= {"SUBMIT", "APPROVE", "FULFIL", "REQUIRE_APPROVAL"}
    assert len({edge["node"]["id"] for edge in r["edges"]}) == len(r["edges"])


async def verify_saved_carts(w: World, t: str, r: list) -> None:
    names = {(c["id"], c["ownedByMe"]) for c in r}
    expected = {(to_global_id("SavedCart", w.own.values["saved_shared"]), w.caller == "admin")}
    if "saved" in w.values:
        expected.add((to_global_id("SavedCart", w.values["saved"]), True))
    assert names == expected


async def verify_cost_centres(w: World, t: str, r: list) -> None:
    ids = {c["id"] for c in r}
    own = {to_global_id("CostCentre", w.own.values[k]) for k in ("default_cost_centre", "cost_centre")}
    default = {to_global_id("CostCentre", w.own.values["default_cost_centre"])}
    assert ids == (own if w.caller in ("admin", "manager") else default)


async def verify_budgets(w: World, t: str, r: list) -> None:
    # The group's budget applies to everyone.
    assert [b["id"] for b in r] == [to_global_id("Budget", w.own.values["budget"])]


async def verify_my_limit(w: World, t: str, r: dict) -> None:
    assert r["userId"] == w.caller_member.gid


async def verify_purchase_limit(w: World, t: str, r: dict) -> None:
    assert r["userId"] == w.own.target.gid


async def verify_credit(w: World, t: str, r: dict) -> None:
    assert r["companyId"] == w.own.gid


async def verify_invoices(w: World, t: str, r: dict) -> None:
    ids = {edge["node"]["id"] for edge in r["edges"]}
    own = {to_global_id("Invoice", w.own.values[k]) for k in ("invoice", "credit_note")}
    other = {to_global_id("Invoice", w.other.values[k]) for k in ("invoice", "credit_note")}
    assert own <= ids and (other <= ids if w.caller == "operator" else not other & ids)
    # a line's order shows to those who may see it (order:read_all, ORDERS_READ, operators)
    orders = {line["order"]["id"] if line["order"] else None for edge in r["edges"] for line in edge["node"]["lines"]}
    assert None not in orders if w.caller in ("admin", "manager", "accountant", "operator", "client_all") else (
        orders == {None})


def transaction_variables(w: World, t: str) -> dict:
    today = utcnow().date()
    variables = {"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()}
    if t != "own":  # operators name the company (without it: INVALID_INPUT); members may name only their own
        variables["companyId"] = w.gid(t, "Company")
    return variables


async def verify_transactions(w: World, t: str, r: dict) -> None:
    side = w.other if t == "other" else w.own
    invoices = {edge["node"]["invoiceId"] for edge in r["edges"] if edge["node"]["kind"] == "INVOICE"}
    orders = {edge["node"]["orderId"] for edge in r["edges"] if edge["node"]["kind"] == "PURCHASE"}
    ledger = w.caller in ("admin", "manager", "accountant", "operator", "client_invoices", "client_all")
    assert invoices == ({to_global_id("Invoice", side.values["invoice"])} if ledger else set())
    assert (r["outstanding"] is not None) is ledger
    assert all((edge["node"]["balance"] is not None) is ledger for edge in r["edges"])
    every_order = {to_global_id("Order", side.values[f"order_{k}"]) for k in ("approved", "fulfilled", "pending")}
    # the target customer's orders: the whole account's, never a buyer's own (they placed none)
    assert orders == (every_order if w.caller not in ("customer",) else set())


async def verify_company_invoicing(w: World, t: str, r: dict) -> None:
    assert r["company"] == {"id": w.gid(t, "Company"), "invoiceDays": [10, 25], "paymentTermsDays": 20}
    (row_,) = await w.fetch(select(Company.invoice_days, Company.payment_terms_days).where(
        Company.id == w.side(t).company_id))
    assert tuple(row_) == ([10, 25], 20)


async def verify_pending_applications(w: World, t: str, r: list) -> None:
    ids = {a["id"] for a in r}
    assert {to_global_id("InvoiceApplication", s.values["application"]) for s in (w.own, w.other)} <= ids


async def verify_rules(w: World, t: str, r: list) -> None:
    assert [rule["id"] for rule in r] == [to_global_id("ApprovalRule", w.own.values["rule"])]


async def verify_queue(w: World, t: str, r: dict) -> None:
    queued = [edge["node"]["order"]["id"] for edge in r["edges"]]
    assert queued == [to_global_id("Order", w.own.values["order_pending"])]


async def verify_audit(w: World, t: str, r: dict) -> None:
    ids = [edge["node"]["entityId"] for edge in r["edges"] if edge["node"]["entity"] == "approval_rule"]
    assert ids == [to_global_id("ApprovalRule", w.own.values["rule"])]


async def verify_api_clients(w: World, t: str, r: dict) -> None:
    names = [edge["node"]["name"] for edge in r["edges"]]
    assert names == ["Integration own"]


# mutations: sign-in and tokens

async def forget_failed_sign_ins(w: World) -> None:
    """Refused sign-ins and reset requests are counted (5 and 3 per email); cases of a cached world must
    not lock each other out."""
    from models import LoginThrottle
    async with w.services.db.transaction() as session:
        await session.execute(LoginThrottle.__table__.delete())


async def verify_login(w: World, t: str, r: dict) -> None:
    assert r["companyId"] == w.own.gid
    me = await w.api.query("{ me { email company { id } } }", token=r["accessToken"])
    assert me["me"] == {"email": w.own.target.email, "company": {"id": w.own.gid}}




async def verify_refresh(w: World, t: str, r: dict) -> None:
    side = w.side(t)
    assert r["companyId"] == side.gid
    again = await w.api.raw(ENTRIES["refreshToken"].document, refresh_variables(w, t))
    assert again["data"]["refreshToken"]["code"] == "TOKEN_REUSED"  # the presented token was spent


async def verify_logout(w: World, t: str, r: dict) -> None:
    assert r["message"] == "Signed out"
    assert error_code(await w.api.raw("{ me { email } }", token=w.token)) == "UNAUTHENTICATED"


async def verify_switch(w: World, t: str, r: dict) -> None:
    assert r["companyId"] == w.own.gid
    me = await w.api.query("{ me { email company { id } } }", token=r["accessToken"])
    assert me["me"] == {"email": w.caller_member.email, "company": {"id": w.own.gid}}


async def verify_reset_request(w: World, t: str, r: dict) -> None:
    assert r["message"] == "If the address has an account, a reset link is on its way"
    side = w.side(t)
    if side is not None:
        links = await w.fetch(
            select(LinkToken.purpose, LinkToken.used_at).where(LinkToken.user_id == side.target.user_id))
        assert links == [(LinkPurpose.RESET_PASSWORD.value, None)]




async def verify_reset(w: World, t: str, r: dict) -> None:
    side = w.side(t)
    assert r["message"] == "Password changed; sign in with the new password"
    assert (await w.api.login(side.target.email, NEW_PASSWORD))["__typename"] == "AuthPayload"


def register_variables(w: World, t: str) -> dict:
    admin = (
        {"email": f"founder.{w.own.company_id}@new.example.com", "password": "a-strong-Password-1"} if t == "own"
        else {"email": w.other.target.email, "password": "not-their-Password-1"}
    )
    return {"input": {
        # A number no company of the world has: a second account on a number informs that account's
        # administrators (tests/schema/test_registration_notice.py), which would change a company here.
        "country": "NO", "orgNumber": "910000004", "name": "New Buyer AS",
        "address": {"street": "Gate 2", "postalCode": "0151", "city": "Oslo"}, "contactEmail": "post@new.example.com",
        "administrator": {"firstName": "Ada", "lastName": "Founder", **admin},
    }}


async def verify_register(w: World, t: str, r: dict) -> None:
    assert r["company"]["name"] == "New Buyer AS"
    founder = f"founder.{w.own.company_id}@new.example.com"
    assert (r["administrator"]["email"], r["administrator"]["role"]) == (founder, "ADMIN")
    assert r["company"]["id"] not in (w.own.gid, w.other.gid)




async def verify_accept(w: World, t: str, r: dict) -> None:
    side = w.side(t)
    invited = to_global_id("User", side.values["invited"])
    assert (r["user"]["id"], r["user"]["status"], r["user"]["firstName"]) == (invited, "ACTIVE", "Ina")


def link_variables(**extra):
    def variables(w: World, t: str) -> dict:
        side = w.side(t)
        return {"input": {"token": side.values["link"] if side else "not-a-real-token", **extra}}
    return variables


def refresh_variables(w: World, t: str) -> dict:
    side = w.side(t)
    return {"input": {"refreshToken": side.values["refresh"] if side else "not-a-real-token"}}


# mutations: company, users, groups

async def verify_update_company(w: World, t: str, r: dict) -> None:
    assert (r["company"]["id"], r["company"]["name"]) == (w.own.gid, "Renamed AS")


async def verify_reminder_hours(w: World, t: str, r: dict) -> None:
    assert r["company"] == {"id": w.own.gid, "approvalReminderHours": 24.0}


def newcomer_variables(w: World, t: str, **extra) -> dict:
    side = w.side(t)
    return {"input": {
        "email": f"newcomer.{w.own.company_id}@example.com", "role": "ADMIN" if t == "own:admin-role" else "CUSTOMER",
        "groupId": side.group_gid if side else to_global_id("Group", MISSING_PK), **extra,
    }}


def verify_new_member(status: str):
    async def verify(w: World, t: str, r: dict) -> None:
        user = r["user"]
        role = "ADMIN" if t == "own:admin-role" else "CUSTOMER"
        assert (user["email"], user["role"], user["status"], user["group"]["id"]) == (
            f"newcomer.{w.own.company_id}@example.com", role, status, w.own.group_gid)
        (company_id,) = (await w.fetch(select(Membership.company_id).where(Membership.id == int(_pk(user["id"])))))[0]
        assert company_id == w.own.company_id
    return verify


def _pk(gid: str) -> str:
    return str(parse_global_id(gid)[1])


async def verify_update_user(w: World, t: str, r: dict) -> None:
    assert r["user"]["id"] == w.own.target.gid
    if t == "own:role":
        assert r["user"]["role"] == "MANAGER"
    else:
        assert r["user"]["firstName"] == "Renamed"


def verify_status(status: str):
    async def verify(w: World, t: str, r: dict) -> None:
        assert (r["user"]["id"], r["user"]["status"]) == (w.own.target.gid, status)
    return verify




def move_variables(w: World, t: str) -> dict:
    if t.endswith(":group"):
        return {"input": {"userIds": [w.own.target.gid], "groupId": w.gid(t, "Group")}}
    return {"input": {"userIds": [w.gid(t, "User")], "groupId": w.own.spare_gid}}


async def verify_move(w: World, t: str, r: dict) -> None:
    assert [(u["id"], u["group"]["id"]) for u in r["users"]] == [(w.own.target.gid, w.own.spare_gid)]


def verify_restrictions(expected: list[str]):
    async def verify(w: World, t: str, r: dict) -> None:
        assert (r["user"]["id"], r["user"]["restrictedPermissions"]) == (w.own.target.gid, expected)
    return verify




async def verify_create_group(w: World, t: str, r: dict) -> None:
    assert (r["group"]["name"], r["group"]["memberCount"]) == ("Purchasing", 0)
    (company_id,) = (await w.fetch(select(Group.company_id).where(Group.id == int(_pk(r["group"]["id"])))))[0]
    assert company_id == w.own.company_id


async def verify_rename_group(w: World, t: str, r: dict) -> None:
    assert (r["group"]["id"], r["group"]["name"]) == (w.own.spare_gid, "Renamed")


async def verify_delete_group(w: World, t: str, r: dict) -> None:
    assert r["deletedId"] == w.own.spare_gid
    assert await w.fetch(select(Group.id).where(Group.id == w.own.spare_group_id)) == []


# mutations: catalogue, locations, cart and orders

def product_fields(w: World, t: str) -> dict:
    return {"sku": f"NEW-{w.own.company_id}", "name": "New product", "unit": "pcs", "category": "Food",
            "unitPrice": "12.50", "vatRate": 15}


async def verify_product_saved(w: World, t: str, r: dict) -> None:
    assert r["product"]["name"] in ("New product", "Renamed product")


def location_variables(w: World, t: str) -> dict:
    """own: a new delivery location; own:update / other / missing: changing the own, another company's or a
    missing one."""
    side = w.side(t)
    values = {"name": "Unit B", "address": {"street": "Vei 4", "postalCode": "0154", "city": "Oslo"}}
    if t != "own":
        values["id"] = to_global_id("DeliveryLocation", side.values["location"] if side else MISSING_PK)
    return {"input": values}


async def verify_location_saved(w: World, t: str, r: dict) -> None:
    location_id = r["location"]["id"]
    if t == "own:update":
        assert location_id == to_global_id("DeliveryLocation", w.own.values["location"])
    (company_id,) = (await w.fetch(select(models.DeliveryLocation.company_id).where(
        models.DeliveryLocation.id == int(_pk(location_id)))))[0]
    assert (company_id, r["location"]["name"]) == (w.own.company_id, "Unit B")


def end_customer_variables(w: World, t: str) -> dict:
    """own: a new end customer at the own unit; own:update: the own end customer; other / missing: at
    another company's unit or a missing one; other:id / missing:id: another company's end customer."""
    side, variant = w.side(t), t.partition(":")[2]
    if variant == "id":
        return {"input": {"id": to_global_id("EndCustomer", side.values["end_customer"] if side else MISSING_PK),
                          "name": "Renamed", "locationId": to_global_id("DeliveryLocation", w.own.values["location"])}}
    location = side.values["location"] if side else MISSING_PK
    values = {"name": "Renamed", "locationId": to_global_id("DeliveryLocation", location)}
    if variant == "update":
        values["id"] = to_global_id("EndCustomer", w.own.values["end_customer"])
    return {"input": values}


async def verify_end_customer_saved(w: World, t: str, r: dict) -> None:
    customer = r["endCustomer"]
    own_location = to_global_id("DeliveryLocation", w.own.values["location"])
    assert (customer["name"], customer["locationId"]) == ("Renamed", own_location)
    if t == "own:update":
        assert customer["id"] == to_global_id("EndCustomer", w.own.values["end_customer"])


async def verify_cart_changed(w: World, t: str, r: dict) -> None:
    placed = r["order"]
    assert (placed["status"], placed["buyer"]["userId"]) == ("DRAFT", w.caller_member.gid)


def update_cart_variables(w: World, t: str) -> dict:
    side, variant = w.side(t), t.partition(":")[2]
    if variant == "end-customer":
        end_customer = side.values["end_customer"] if side else MISSING_PK
        return {"input": {"endCustomerId": to_global_id("EndCustomer", end_customer)}}
    if variant == "cost-centre":
        centre = side.values["cost_centre"] if side else MISSING_PK
        return {"input": {"costCentreId": to_global_id("CostCentre", centre)}}
    if variant == "slot":
        return {"input": {"deliverySlotId": to_global_id("DeliverySlot", side.values["slot"] if side else MISSING_PK)}}
    return {"input": {"reference": "Ward 7", "poNumber": "PO-1"}}


async def verify_cart_updated(w: World, t: str, r: dict) -> None:
    await verify_cart_changed(w, t, r)
    assert r["order"]["reference"] == "Ward 7"


async def verify_submitted(w: World, t: str, r: dict) -> None:
    placed = r["order"]
    assert placed["status"] == "APPROVED" and placed["number"] and placed["buyer"]["userId"] == w.caller_member.gid


def verify_order_status(status: str, variant: str):
    async def verify(w: World, t: str, r: dict) -> None:
        side = w.side(t)
        order = to_global_id("Order", side.values[f"order_{variant}"])
        assert (r["order"]["id"], r["order"]["status"]) == (order, status)
    return verify


def return_variables(w: World, t: str) -> dict:
    side = w.side(t)
    return {"input": {"orderId": to_global_id("Order", side.values["order_fulfilled"] if side else MISSING_PK),
                      "lineId": to_global_id("OrderLine", side.values["fulfilled_line"] if side else MISSING_PK),
                      "quantity": 1}}


async def verify_return(w: World, t: str, r: dict) -> None:
    assert r["order"]["status"] == "FULFILLED"
    assert [line["quantity"] for line in r["order"]["lines"]] == [2]
    line_id = w.side(t).values["fulfilled_line"]
    (returned,) = (await w.fetch(select(OrderLine.returned_quantity).where(OrderLine.id == line_id)))[0]
    assert returned == 1


def saved_cart_gid(w: World, t: str) -> str:
    """own: the caller's own saved cart; own:shared / own:private: the administrator's shared one and the
    target's private one; other:shared: another company's shared one."""
    side, variant = w.side(t), t.partition(":")[2]
    if side is None:
        return to_global_id("SavedCart", MISSING_PK)
    if t == "own":
        return to_global_id("SavedCart", w.values.get("saved", MISSING_PK + 1))
    return to_global_id("SavedCart", side.values[f"saved_{variant}"])


async def verify_saved_cart(w: World, t: str, r: dict) -> None:
    cart = r["savedCart"]
    if t == "own:new":  # a cart that did not exist before: a saved cart's id, none of the world's
        kind, pk = parse_global_id(cart["id"]) or ("", 0)
        existing = {w.own.values.get("saved_shared"), w.values.get("saved")} - {None}
        assert (kind, pk in existing, cart["name"]) == ("SavedCart", False, "For Fridays")
    else:
        assert cart["id"] == saved_cart_gid(w, t)
    assert cart["ownedByMe"] is True


async def verify_saved_cart_deleted(w: World, t: str, r: dict) -> None:
    assert r["deletedId"] == saved_cart_gid(w, t)


async def verify_saved_cart_added(w: World, t: str, r: dict) -> None:
    await verify_cart_changed(w, t, r)
    products = {line["productId"] for line in r["order"]["lines"]}
    assert to_global_id("Product", w.catalogue.paper if t == "own:shared" else w.catalogue.active) in products


# mutations: spend control

def cost_centre_variables(w: World, t: str) -> dict:
    side, variant = w.side(t), t.partition(":")[2]
    values = {"name": "Renamed centre", "code": f"NEW{w.own.company_id}",
              "invoiceAddress": {"street": "Vei 1", "postalCode": "0150", "city": "Oslo"}}
    if variant == "update" or t in ("other", "missing"):
        values["id"] = to_global_id("CostCentre", side.values["cost_centre"] if side else MISSING_PK)
    return {"input": values}


async def verify_cost_centre_saved(w: World, t: str, r: dict) -> None:
    centre = r["costCentre"]
    assert centre["name"] == "Renamed centre"
    if t == "own:update":
        assert centre["id"] == to_global_id("CostCentre", w.own.values["cost_centre"])
    (company_id,) = (await w.fetch(select(models.CostCentre.company_id).where(
        models.CostCentre.id == int(_pk(centre["id"])))))[0]
    assert company_id == w.own.company_id


def user_cost_centres_variables(w: World, t: str) -> dict:
    """own: the own target onto the own extra cost centre; other / missing: another company's (or a
    missing) user; other:centre / missing:centre: the own target onto another company's cost centre."""
    side, variant = w.side(t), t.partition(":")[2]
    if variant == "centre":
        centre = side.values["cost_centre"] if side else MISSING_PK
        return {"input": {"userId": w.own.target.gid, "costCentreIds": [to_global_id("CostCentre", centre)]}}
    own_centre = to_global_id("CostCentre", w.own.values["cost_centre"])
    return {"input": {"userId": w.gid(t, "User"), "costCentreIds": [own_centre]}}


async def verify_user_cost_centres(w: World, t: str, r: dict) -> None:
    centre = to_global_id("CostCentre", w.own.values["cost_centre"])
    assert (r["userId"], [c["id"] for c in r["costCentres"]], r["defaultId"]) == (w.own.target.gid, [centre], centre)


def budget_variables(w: World, t: str) -> dict:
    """own: a new budget of the own default group; own:update: the own budget; other / other:user /
    other:centre: owned by another company's group, user or cost centre (missing: a missing one);
    other:id / missing:id: changing another company's (or a missing) budget."""
    side, variant = w.side(t), t.partition(":")[2]
    owner_type, owner = "GROUP", to_global_id("Group", w.own.group_id)
    if t.split(":")[0] in ("other", "missing") and variant != "id":
        owner_types = {"": ("GROUP", "Group"), "user": ("USER", "User"), "centre": ("COST_CENTRE", "CostCentre")}
        owner_type, type_name = owner_types[variant]
        owner = to_global_id(type_name, {"Group": side.group_id, "User": side.target.membership_id,
                                         "CostCentre": side.values["cost_centre"]}[type_name] if side else MISSING_PK)
    values = {"name": "Quarter", "ownerType": owner_type, "ownerId": owner, "period": "QUARTERLY", "amount": "1000.00",
              "action": "WARN"}
    if variant == "update":
        values["id"] = to_global_id("Budget", w.own.values["budget"])
    elif variant == "id":
        values["id"] = to_global_id("Budget", side.values["budget"] if side else MISSING_PK)
    return {"input": values}


async def verify_budget_saved(w: World, t: str, r: dict) -> None:
    budget = r["budget"]
    assert (budget["name"], budget["ownerId"]) == ("Quarter", w.own.group_gid)
    if t == "own:update":
        assert budget["id"] == to_global_id("Budget", w.own.values["budget"])


async def verify_limit_set(w: World, t: str, r: dict) -> None:
    limit = r["purchaseLimit"]
    assert (limit["userId"], limit["perOrder"]["amount"]) == (w.own.target.gid, "500.00")


async def verify_applied(w: World, t: str, r: dict) -> None:
    assert (r["credit"]["companyId"], r["credit"]["latestApplication"]["status"]) == (w.own.gid, "PENDING")


def verify_credit_of_target(check: Callable[[dict], bool] = lambda credit: True):
    async def verify(w: World, t: str, r: dict) -> None:
        assert r["credit"]["companyId"] == w.side(t).gid
        assert check(r["credit"]), r
    return verify


def rule_variables(w: World, t: str) -> dict:
    """own: a new rule; own:update: the own rule; other:group / other:user / other:centre: naming another
    company's group, approver or cost centre; other / missing: changing another company's (or a missing) rule."""
    side, variant = w.side(t), t.partition(":")[2]
    values: dict = {"name": "Large orders", "condition": "TOTAL_ABOVE", "threshold": "100000.00",
                    "tiers": [{"roles": ["ORDER_APPROVER"]}]}
    if variant == "group":
        values["appliesToGroupIds"] = [side.group_gid if side else to_global_id("Group", MISSING_PK)]
    elif variant == "user":
        approver = side.members["order_approver"].gid if side else to_global_id("User", MISSING_PK)
        values["tiers"] = [{"userIds": [approver]}]
    elif variant == "centre":
        values.update(condition="COST_CENTRE", threshold=None,
                      costCentreId=to_global_id("CostCentre", side.values["cost_centre"] if side else MISSING_PK))
    elif variant == "update":
        values["id"] = to_global_id("ApprovalRule", w.own.values["rule"])
    elif t in ("other", "missing"):
        values["id"] = to_global_id("ApprovalRule", side.values["rule"] if side else MISSING_PK)
    return {"input": values}


async def verify_rule_saved(w: World, t: str, r: dict) -> None:
    assert r["rule"]["name"] == "Large orders"
    if t == "own:update":
        assert r["rule"]["id"] == to_global_id("ApprovalRule", w.own.values["rule"])


async def verify_rule_deleted(w: World, t: str, r: dict) -> None:
    assert r["deletedId"] == to_global_id("ApprovalRule", w.own.values["rule"])


async def verify_webhook_endpoints(w: World, t: str, r: dict) -> None:
    [endpoint] = [edge["node"] for edge in r["edges"]]
    assert endpoint["id"] == w.gid("own", "WebhookEndpoint")
    assert [edge["node"]["id"] for edge in endpoint["deliveries"]["edges"]] == [w.gid("own", "WebhookDelivery")]


async def verify_webhook_created(w: World, t: str, r: dict) -> None:
    assert r["secret"].startswith("whsec_") and r["webhookEndpoint"]["url"] == "https://erp.example.com/new"
    (company_id,) = (await w.fetch(select(models.WebhookEndpoint.company_id).where(
        models.WebhookEndpoint.id == int(_pk(r["webhookEndpoint"]["id"])))))[0]
    assert company_id == w.own.company_id


def verify_webhook_endpoint(check: Callable[[dict], bool]):
    async def verify(w: World, t: str, r: dict) -> None:
        assert r["webhookEndpoint"]["id"] == w.gid(t, "WebhookEndpoint") and check(r), r
    return verify


async def verify_webhook_deleted(w: World, t: str, r: dict) -> None:
    assert r["deletedId"] == w.gid(t, "WebhookEndpoint")
    assert await w.fetch(select(models.WebhookEndpoint.id).where(
        models.WebhookEndpoint.id == w.own.values["webhook_endpoint"])) == []


async def verify_redelivery(w: World, t: str, r: dict) -> None:
    assert (r["delivery"]["id"], r["delivery"]["status"]) == (w.gid(t, "WebhookDelivery"), "PENDING")
    jobs = await w.fetch(select(models.Job.payload).where(models.Job.kind == "webhook.deliver"))
    assert {"delivery_id": w.own.values["webhook_delivery"], "attempt": 2} in [payload for (payload,) in jobs]


async def verify_api_client_created(w: World, t: str, r: dict) -> None:
    assert r["secret"].startswith("prc_") and r["apiClient"]["name"] == "Books"
    assert (await w.api.query("{ company { id } }", token=r["secret"]))["company"]["id"] == w.own.gid


async def verify_delegations(w: World, t: str, r: list) -> None:
    assert [d["id"] for d in r] == [w.gid("own", "ApprovalDelegation")]


async def verify_delegate_set(w: World, t: str, r: dict) -> None:
    caller = w.caller_member
    assert (r["delegation"]["approverId"], r["delegation"]["active"]) == (caller.gid, True)
    rows = await w.fetch(select(models.ApprovalDelegation.delegate_id).where(
        models.ApprovalDelegation.approver_id == caller.membership_id))
    assert [to_global_id("User", row[0]) for row in rows] == [r["delegation"]["delegateId"]]


async def verify_delegation_cancelled(w: World, t: str, r: dict) -> None:
    assert (r["delegation"]["id"], r["delegation"]["active"]) == (w.gid(t, "ApprovalDelegation"), False)
    rows = await w.fetch(select(models.ApprovalDelegation.cancelled_at).where(
        models.ApprovalDelegation.id == w.own.values["delegation"]))
    assert rows[0][0] is not None


def delegate_of(w: World, t: str) -> str:
    """A substitute who may approve: for the own company the admin or order approver who is not the caller;
    else the target's user (another company's, or missing)."""
    if t != "own":
        return w.gid(t, "User")
    return w.own.members["admin" if w.caller == "order_approver" else "order_approver"].gid


def verify_api_client(revoked: bool):
    async def verify(w: World, t: str, r: dict) -> None:
        assert r["apiClient"]["id"] == w.gid(t, "ApiClient")
        assert (r["apiClient"]["revokedAt"] is not None) == revoked
        if not revoked:
            assert r["secret"].startswith("prc_") and len(r["apiClient"]["secrets"]) == 2
    return verify


def verify_decided(status: str):
    async def verify(w: World, t: str, r: dict) -> None:
        pending = to_global_id("Order", w.own.values["order_pending"])
        assert (r["order"]["id"], r["order"]["status"]) == (pending, status)
    return verify


def unwrap_bulk(result: dict) -> dict:
    (item,) = result["results"]
    return item["error"] if item["error"] is not None else {"__typename": "Order", **item["order"]}


def verify_bulk(status: str):
    async def verify(w: World, t: str, r: dict) -> None:
        (item,) = r["results"]
        pending = to_global_id("Order", w.own.values["order_pending"])
        assert (item["orderId"], item["order"]["status"]) == (pending, status)
    return verify


def pending_order(w: World, t: str) -> str:
    return w.gid(t, "Order", "pending")


# --- the matrix ------------------------------------------------------------------------------------------------

NOT_FOUND_FOR_ADMINS = where_allowed(ADMIN_ONLY, NF)
NOT_FOUND_FOR_USER_ADMINS = where_allowed(USER_ADMINS, NF)
NOT_FOUND_FOR_BUYERS = where_allowed(BUYERS, NF)
NULL_FOR_USER_ADMINS = where_allowed(USER_ADMINS, N)
# invoice:read: administrators, managers, accountants, INVOICES_READ clients; operators every company's
INVOICE_READERS = row(U, A, A, F, F, A, clients=clients(F, A, F, F, A), accountant=A)
# transactions: the whole account (invoice:read, operators naming the company), every purchase (order:read_all),
# a buyer's own; order approvers and clients with neither scope are refused
TRANSACTION_READERS = row(U, A, A, A, F, Outcome("error", "INVALID_INPUT"), clients=clients(A, A, F, F, A),
                          accountant=A)
TRANSACTIONS_OF_ANOTHER = where_allowed(TRANSACTION_READERS, Outcome("error", "NOT_FOUND")) | {
    "operator": Outcome("error", "NOT_FOUND")}
ID_TARGETS = ("own", "other", "missing")

ENTRIES: dict[str, Spec] = {
    # ------------------------------------------------------------------ queries: the foundation
    "me": Spec(
        "query",
        "{ me { email isOperator user { id role } company { id } companies { company { id } role } permissions } }",
        no_variables, {"own": SIGNED_IN | NO_CLIENT}, verify_me,
    ),
    "company": Spec("query", "{ company { id name } }", no_variables, {"own": COMPANY_READERS}, verify_company),
    "users": Spec(
        "query",
        "query($filter: UserFilter) { users(filter: $filter, first: 100) { edges { node { id email } } } }",
        lambda w, t: {"filter": None if t == "all" else {
            "groupId": w.side(t).group_gid if w.side(t) else to_global_id("Group", MISSING_PK)}},
        {t: USER_ADMINS for t in ("all", *ID_TARGETS)}, verify_users, same_answer=(("other", "missing"),),
    ),
    "user": Spec(
        "query", "query($id: ID!) { user(id: $id) { id email role } }", lambda w, t: {"id": w.gid(t, "User")},
        {"self": MEMBERS | NO_CLIENT, "own": USER_ADMINS, "other": NULL_FOR_USER_ADMINS,
         "missing": NULL_FOR_USER_ADMINS},
        verify_user, same_answer=(("other", "missing"),),
    ),
    "groups": Spec(
        "query", "{ groups(first: 100) { edges { node { id name memberCount } } } }", no_variables,
        {"own": USER_ADMINS}, verify_groups,
    ),
    "group": Spec(
        "query", "query($id: ID!) { group(id: $id) { id name memberCount } }", lambda w, t: {"id": w.gid(t, "Group")},
        {"own": USER_ADMINS, "other": NULL_FOR_USER_ADMINS, "missing": NULL_FOR_USER_ADMINS}, verify_group,
        same_answer=(("other", "missing"),),
    ),
    "node": Spec(
        "query",
        "query($id: ID!) { node(id: $id) { __typename id } }",
        lambda w, t: {"id": "not-a-global-id" if t == "garbage" else w.gid(t, t.split(":")[1])},
        {
            "own:Company": COMPANY_READERS, "other:Company": where_allowed(COMPANY_READERS, N),
            "missing:Company": where_allowed(COMPANY_READERS, N),
            "own:User": USER_ADMINS, "other:User": NULL_FOR_USER_ADMINS, "missing:User": NULL_FOR_USER_ADMINS,
            "own:Group": USER_ADMINS, "other:Group": NULL_FOR_USER_ADMINS, "missing:Group": NULL_FOR_USER_ADMINS,
            "own:Product": CATALOGUE_READERS, "missing:Product": where_allowed(CATALOGUE_READERS, N),
            "own:Order": row(U, A, A, N, N, A, ORDER_READERS, accountant=A),
            "other:Order": row(U, N, N, N, N, A, clients=N),
            "missing:Order": row(U, N, N, N, N, N, clients=N),
            "own:DeliveryLocation": BUYERS, "other:DeliveryLocation": where_allowed(BUYERS, N),
            "missing:DeliveryLocation": where_allowed(BUYERS, N),
            "own:EndCustomer": BUYERS, "other:EndCustomer": where_allowed(BUYERS, N),
            "missing:EndCustomer": where_allowed(BUYERS, N),
            # Node types fetched as their own queries answer
            "own:DeliverySlot": BUYERS, "other:DeliverySlot": where_allowed(BUYERS, N),
            "missing:DeliverySlot": where_allowed(BUYERS, N),
            "own:OrderLine": row(U, A, A, N, N, A, ORDER_READERS, accountant=A),
            "other:OrderLine": row(U, N, N, N, N, A, clients=N), "missing:OrderLine": row(U, N, N, N, N, N, clients=N),
            "own:SavedCart": BUYERS, "other:SavedCart": where_allowed(BUYERS, N),
            "missing:SavedCart": where_allowed(BUYERS, N),
            "own:CostCentre": row(U, A, A, N, F, F, clients=F), "other:CostCentre": row(U, N, N, N, F, F, clients=F),
            "missing:CostCentre": row(U, N, N, N, F, F, clients=F),
            "own:Budget": row(U, A, A, A, F, F, clients=F), "other:Budget": row(U, N, N, N, F, F, clients=F),
            "missing:Budget": row(U, N, N, N, F, F, clients=F),
            "own:ApprovalRule": USER_ADMINS, "other:ApprovalRule": NULL_FOR_USER_ADMINS,
            "missing:ApprovalRule": NULL_FOR_USER_ADMINS,
            "own:AuditEntry": ADMIN_ONLY, "other:AuditEntry": where_allowed(ADMIN_ONLY, N),
            "missing:AuditEntry": where_allowed(ADMIN_ONLY, N),
            "own:InvoiceApplication": row(U, A, A, F, F, A, clients=F, accountant=A),
            "other:InvoiceApplication": row(U, N, N, F, F, A, clients=F, accountant=N),
            "missing:InvoiceApplication": row(U, N, N, F, F, N, clients=F, accountant=N),
            "own:Person": USER_ADMINS, "other:Person": NULL_FOR_USER_ADMINS, "missing:Person": NULL_FOR_USER_ADMINS,
            "own:OrderChange": row(U, A, A, N, N, A, ORDER_READERS, accountant=A),
            "other:OrderChange": row(U, N, N, N, N, A, clients=N),
            "missing:OrderChange": row(U, N, N, N, N, N, clients=N),
            "own:ApiClient": ADMIN_ONLY, "other:ApiClient": where_allowed(ADMIN_ONLY, N),
            "missing:ApiClient": where_allowed(ADMIN_ONLY, N),
            "own:WebhookEndpoint": WEBHOOK_MANAGERS, "other:WebhookEndpoint": where_allowed(WEBHOOK_MANAGERS, N),
            "missing:WebhookEndpoint": where_allowed(WEBHOOK_MANAGERS, N),
            "own:WebhookDelivery": WEBHOOK_MANAGERS, "other:WebhookDelivery": where_allowed(WEBHOOK_MANAGERS, N),
            "missing:WebhookDelivery": where_allowed(WEBHOOK_MANAGERS, N),
            # the company's with approval_rule:manage, else the caller's own absences (the approver's here)
            "own:ApprovalDelegation": row(U, A, N, N, A, N, clients=N),
            "other:ApprovalDelegation": row(U, N, N, N, N, N, clients=N),
            "missing:ApprovalDelegation": row(U, N, N, N, N, N, clients=N),
            # invoice:read (administrators, managers, accountants, INVOICES_READ), operators every company's
            "own:Invoice": INVOICE_READERS, "other:Invoice": where_allowed(INVOICE_READERS, N) | {"operator": A},
            "missing:Invoice": where_allowed(INVOICE_READERS, N),
            "garbage": where_allowed(SIGNED_IN, N) | each_client(N),
        },
        verify_node, needs=("location", "orders", "cost_centre", "saved_carts", "budget", "invoice_application",
                            "api_client", "webhooks", "delegations", "invoices"),
        same_answer=tuple((f"other:{t}", f"missing:{t}") for t in (
            "Company", "User", "Group", "Order", "DeliveryLocation", "EndCustomer", "DeliverySlot", "OrderLine",
            "SavedCart", "CostCentre", "Budget", "ApprovalRule", "AuditEntry", "InvoiceApplication", "Person",
            "OrderChange", "ApiClient", "WebhookEndpoint", "WebhookDelivery", "ApprovalDelegation", "Invoice")),
        same_answer_except=("operator",),
    ),
    # ------------------------------------------------------------------ queries: ordering
    "products": Spec(
        "query", "{ products(includeInactive: true, first: 100) { edges { node { id active } } } }", no_variables,
        {"own": CATALOGUE_READERS}, verify_products,
    ),
    "product": Spec(
        "query", "query($id: ID!) { product(id: $id) { id } }", lambda w, t: {"id": w.gid(t, "Product")},
        {"own": CATALOGUE_READERS, "missing": where_allowed(CATALOGUE_READERS, N)}, verify_product,
    ),
    "productCategories": Spec("query", "{ productCategories }", no_variables, {"own": CATALOGUE_READERS},
                                verify_categories),
    "deliveryLocations": Spec(
        "query", "{ deliveryLocations { id name } }", no_variables, {"own": BUYERS}, verify_locations,
        needs=("location",),
    ),
    "endCustomers": Spec(
        "query", "query($location: ID) { endCustomers(locationId: $location, first: 100) { edges { node { id } } } }",
        lambda w, t: {"location": None if t == "all" else w.gid(t, "DeliveryLocation")},
        {t: BUYERS for t in ("all", *ID_TARGETS)}, verify_end_customers, needs=("location",),
        same_answer=(("other", "missing"),),
    ),
    "cart": Spec(
        "query", "{ cart { id status buyer { userId } } }", no_variables, {"own": BUYERS}, verify_cart,
        needs=("caller_cart",),
    ),
    "orders": Spec(
        "query",
        "query($filter: OrderFilter) { orders(filter: $filter, first: 100) { edges { node { id status } } } }",
        lambda w, t: {"filter": {"buyerId": w.gid(t, "User")}}, {t: SIGNED_IN | each_client(A) for t in ID_TARGETS},
        verify_orders,
        needs=("orders",), same_answer=(("other", "missing"),), same_answer_except=("operator",),
    ),
    "order": Spec(
        "query", "query($id: ID!) { order(id: $id) { id status } }", lambda w, t: {"id": gid_of("Order")(w, t)},
        {"own": row(U, A, A, N, N, A, ORDER_READERS, accountant=A),
         "own:pending": row(U, A, A, N, A, A, ORDER_READERS, accountant=A),
         "other": row(U, N, N, N, N, A, clients=N), "other:pending": row(U, N, N, N, N, A, clients=N),
         "missing": where_allowed(SIGNED_IN, N) | each_client(N)},
        verify_order, needs=("orders",), same_answer=(("other", "missing"), ("other:pending", "missing")),
    ),
    "orderChanges": Spec(
        "query", "{ orderChanges(first: 100) { edges { node { id kind order { id status } } } } }", no_variables,
        {"own": SIGNED_IN | clients(A, F, F, F, A)}, verify_order_changes, needs=("orders",),
        prepare=all_changes_settled,
    ),
    "savedCarts": Spec(
        "query", "{ savedCarts { id ownedByMe } }", no_variables, {"own": BUYERS}, verify_saved_carts,
        needs=("saved_carts", "caller_saved_cart"),
    ),
    # ------------------------------------------------------------------ queries: spend control
    "costCentres": Spec(
        "query", "{ costCentres { id } }", no_variables, {"own": BUYERS}, verify_cost_centres, needs=("cost_centre",),
    ),
    "budgets": Spec("query", "{ budgets { id } }", no_variables, {"own": BUYERS}, verify_budgets, needs=("budget",)),
    "myPurchaseLimit": Spec(
        "query", "{ myPurchaseLimit { userId } }", no_variables,
        {"own": row(U, A, A, A, A, Outcome("error", "NOT_A_MEMBER"), clients=F)}, verify_my_limit,
    ),
    "purchaseLimit": Spec(
        "query", "query($id: ID!) { purchaseLimit(userId: $id) { userId } }", lambda w, t: {"id": w.gid(t, "User")},
        {"own": USER_ADMINS, "other": NULL_FOR_USER_ADMINS, "missing": NULL_FOR_USER_ADMINS}, verify_purchase_limit,
        same_answer=(("other", "missing"),),
    ),
    "companyCredit": Spec(
        "query", "{ companyCredit { companyId } }", no_variables, {"own": USER_ADMINS | {"accountant": A}},
        verify_credit,
    ),
    "invoices": Spec(
        "query", "{ invoices(first: 100) { edges { node { id company { id } lines { order { id } } } } } }",
        no_variables, {"own": INVOICE_READERS}, verify_invoices, needs=("invoices",),
    ),
    "transactions": Spec(
        "query", "query($from: Date!, $to: Date!, $companyId: ID) { transactions(from: $from, to: $to, "
                 "companyId: $companyId) { edges { node { kind invoiceId orderId balance { amount } } } "
                 "outstanding { amount } } }",
        transaction_variables,
        {"own": TRANSACTION_READERS, "other": TRANSACTIONS_OF_ANOTHER | {"operator": A},
         "missing": TRANSACTIONS_OF_ANOTHER},
        verify_transactions, needs=("invoices",), same_answer=(("other", "missing"),),
        same_answer_except=("operator",),
    ),
    "pendingInvoiceApplications": Spec(
        "query", "{ pendingInvoiceApplications { id companyId } }", no_variables, {"own": OPERATOR},
        verify_pending_applications, needs=("invoice_application",),
    ),
    "approvalRules": Spec(
        "query", "{ approvalRules { id } }", no_variables, {"own": USER_ADMINS}, verify_rules, needs=("orders",),
    ),
    "approvalQueue": Spec(
        "query", "{ approvalQueue(first: 100) { edges { node { order { id } } } } }", no_variables, {"own": APPROVERS},
        verify_queue, needs=("orders",),
    ),
    "apiClients": Spec(
        "query", "{ apiClients(first: 100) { edges { node { id name } } } }", no_variables, {"own": ADMIN_ONLY},
        verify_api_clients, needs=("api_client",),
    ),
    "auditLog": Spec(
        "query", "{ auditLog(first: 100) { edges { node { entity entityId } } } }", no_variables, {"own": ADMIN_ONLY},
        verify_audit, needs=("orders",),
    ),
    # ------------------------------------------------------------------ open mutations and the caller's session
    "login": Spec(
        "mutation", mutation("login", "LoginInput", "... on AuthPayload { accessToken companyId }"),
        lambda w, t: {"input": {"email": w.own.target.email, "password": PASSWORD,
                                "companyId": None if t == "own" else w.gid(t, "Company")}},
        {"own": everyone(A), "other": everyone(typed("INVALID_CREDENTIALS")),
         "missing": everyone(typed("INVALID_CREDENTIALS"))},
        verify_login, same_answer=(("other", "missing"),), prepare=forget_failed_sign_ins,
    ),
    "refreshToken": Spec(
        "mutation", mutation("refreshToken", "RefreshTokenInput", "... on AuthPayload { accessToken companyId }"),
        refresh_variables,
        {"own": everyone(A) | NO_CLIENT, "other": everyone(A) | NO_CLIENT,
         "missing": everyone(typed("INVALID_TOKEN")) | NO_CLIENT},
        verify_refresh, needs=("refresh",),
    ),
    "logout": Spec(
        "mutation", mutation("logout", None, "... on AcceptedPayload { message }"), no_variables,
        {"own": SIGNED_IN | NO_CLIENT},
        verify_logout,
    ),
    "switchCompany": Spec(
        "mutation", mutation("switchCompany", "SwitchCompanyInput", "... on AuthPayload { accessToken companyId }"),
        lambda w, t: {"input": {"companyId": w.gid(t, "Company")}},
        {"own": row(U, A, A, A, A, NF, clients=F), "other": where_allowed(SIGNED_IN, NF) | NO_CLIENT,
         "missing": where_allowed(SIGNED_IN, NF) | NO_CLIENT},
        verify_switch, same_answer=(("other", "missing"),),
    ),
    "requestPasswordReset": Spec(
        "mutation", mutation("requestPasswordReset", "RequestPasswordResetInput", "... on AcceptedPayload { message }"),
        lambda w, t: {"input": {"email": w.side(t).target.email if w.side(t) else "nobody@example.com"}},
        {"own": everyone(A), "other": everyone(A), "missing": everyone(A)},
        verify_reset_request, same_answer=(("own", "missing"), ("other", "missing")), changes={"missing": ()},
        prepare=forget_failed_sign_ins,
    ),
    "resetPassword": Spec(
        "mutation", mutation("resetPassword", "ResetPasswordInput", "... on AcceptedPayload { message }"),
        link_variables(newPassword=NEW_PASSWORD),
        {"own": everyone(A), "other": everyone(A), "missing": everyone(typed("INVALID_TOKEN"))},
        verify_reset, needs=("reset_link",),
    ),
    "registerCompany": Spec(
        "mutation",
        mutation("registerCompany", "RegisterCompanyInput",
                 "... on RegisterCompanyPayload { company { id name } administrator { id email role } }"),
        register_variables, {"own": everyone(A), "other": everyone(typed("EMAIL_TAKEN"))},
        verify_register, changes={"own": ()}, prepare=forget_failed_sign_ins,
    ),
    "acceptInvitation": Spec(
        "mutation", mutation("acceptInvitation", "AcceptInvitationInput", USER_PAYLOAD),
        link_variables(firstName="Ina", lastName="Vited", password="a-strong-Password-1"),
        {"own": everyone(A), "other": everyone(A), "missing": everyone(typed("INVALID_TOKEN"))},
        verify_accept, needs=("invitation",),
    ),
    # ------------------------------------------------------------------ company administration
    "updateCompany": Spec(
        "mutation",
        mutation("updateCompany", "UpdateCompanyInput", "... on UpdateCompanyPayload { company { id name } }"),
        lambda w, t: {"input": {"name": "Renamed AS"}}, {"own": ADMIN_ONLY}, verify_update_company,
    ),
    "setApprovalReminderHours": Spec(
        "mutation",
        mutation("setApprovalReminderHours", "SetApprovalReminderHoursInput",
                 "... on UpdateCompanyPayload { company { id approvalReminderHours } }"),
        lambda w, t: {"input": {"hours": 24}}, {"own": ADMIN_ONLY}, verify_reminder_hours,
    ),
    "inviteUser": Spec(
        "mutation", mutation("inviteUser", "InviteUserInput", USER_PAYLOAD),
        newcomer_variables,
        {"own": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS,
         "own:admin-role": row(U, A, typed("ROLE_NOT_ALLOWED"), F, F, F, clients=F)},
        verify_new_member("INVITED"), same_answer=(("other", "missing"),),
    ),
    "createUser": Spec(
        "mutation", mutation("createUser", "CreateUserInput", USER_PAYLOAD),
        lambda w, t: newcomer_variables(w, t, firstName="New", lastName="Person", paymentMethods=["CARD"]),
        {"own": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS,
         "own:admin-role": row(U, A, typed("ROLE_NOT_ALLOWED"), F, F, F, clients=F)},
        verify_new_member("ACTIVE"), same_answer=(("other", "missing"),),
    ),
    "updateUser": Spec(
        "mutation", mutation("updateUser", "UpdateUserInput", USER_PAYLOAD),
        lambda w, t: {"input": {"id": w.gid(t, "User"),
                                **({"role": "MANAGER"} if t == "own:role" else {"firstName": "Renamed"})}},
        {"own": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS,
         "own:role": ADMIN_ONLY},
        verify_update_user, same_answer=(("other", "missing"),),
    ),
    "deactivateUser": Spec(
        "mutation", mutation("deactivateUser", "UserIdInput", USER_PAYLOAD),
        input_of(id=lambda w, t: w.gid(t, "User")),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_status("DEACTIVATED"), same_answer=(("other", "missing"),),
    ),
    "reactivateUser": Spec(
        "mutation", mutation("reactivateUser", "UserIdInput", USER_PAYLOAD),
        input_of(id=lambda w, t: w.gid(t, "User")),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_status("ACTIVE"), needs=("deactivated",), same_answer=(("other", "missing"),),
    ),
    "moveUsersToGroup": Spec(
        "mutation",
        mutation("moveUsersToGroup", "MoveUsersToGroupInput",
                 "... on MoveUsersToGroupPayload { users { id group { id } } }"),
        move_variables,
        {"own": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS,
         "other:group": NOT_FOUND_FOR_USER_ADMINS, "missing:group": NOT_FOUND_FOR_USER_ADMINS},
        verify_move, same_answer=(("other", "missing"), ("other:group", "missing:group")),
    ),
    "restrictUserPermission": Spec(
        "mutation", mutation("restrictUserPermission", "UserPermissionInput", USER_PAYLOAD),
        input_of(userId=lambda w, t: w.gid(t, "User"), permission="ORDER_CREATE"),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_restrictions(["ORDER_CREATE"]), same_answer=(("other", "missing"),),
    ),
    "restoreUserPermission": Spec(
        "mutation", mutation("restoreUserPermission", "UserPermissionInput", USER_PAYLOAD),
        input_of(userId=lambda w, t: w.gid(t, "User"), permission="ORDER_CREATE"),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_restrictions([]), needs=("restricted",), same_answer=(("other", "missing"),),
    ),
    "createGroup": Spec(
        "mutation",
        mutation("createGroup", "CreateGroupInput", "... on GroupPayload { group { id name memberCount } }"),
        lambda w, t: {"input": {"name": "Purchasing"}}, {"own": USER_ADMINS}, verify_create_group,
    ),
    "renameGroup": Spec(
        "mutation", mutation("renameGroup", "RenameGroupInput", "... on GroupPayload { group { id name } }"),
        input_of(id=lambda w, t: w.gid(t, "Group"), name="Renamed"),
        {"own": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS},
        verify_rename_group, same_answer=(("other", "missing"),),
    ),
    "deleteGroup": Spec(
        "mutation", mutation("deleteGroup", "DeleteGroupInput", "... on DeleteGroupPayload { deletedId }"),
        input_of(id=lambda w, t: w.gid(t, "Group")),
        {"own": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS},
        verify_delete_group, same_answer=(("other", "missing"),),
    ),
    # ------------------------------------------------------------------ catalogue (platform operators)
    "createProduct": Spec(
        "mutation", mutation("createProduct", "ProductInput", "... on ProductPayload { product { id name } }"),
        lambda w, t: {"input": product_fields(w, t)}, {"own": OPERATOR}, verify_product_saved, changes={"own": ()},
    ),
    "updateProduct": Spec(
        "mutation", mutation("updateProduct", "UpdateProductInput", "... on ProductPayload { product { id name } }"),
        lambda w, t: {"input": {
            "id": w.gid(t, "Product") if t == "missing" else to_global_id("Product", w.values["product"]),
            "fields": {"name": "Renamed product"}}},
        {"own": OPERATOR, "missing": where_allowed(OPERATOR, NF)}, verify_product_saved, needs=("own_product",),
        changes={"own": ()},
    ),
    # ------------------------------------------------------------------ delivery locations and end customers
    "saveDeliveryLocation": Spec(
        "mutation",
        mutation("saveDeliveryLocation", "DeliveryLocationInput",
                 "... on DeliveryLocationPayload { location { id name } }"),
        location_variables,
        {"own": USER_ADMINS, "own:update": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS,
         "missing": NOT_FOUND_FOR_USER_ADMINS},
        verify_location_saved, needs=("location",), same_answer=(("other", "missing"),),
    ),
    "saveEndCustomer": Spec(
        "mutation",
        mutation("saveEndCustomer", "EndCustomerInput",
                 "... on EndCustomerPayload { endCustomer { id name locationId } }"),
        end_customer_variables,
        {"own:update": USER_ADMINS, "other": NOT_FOUND_FOR_USER_ADMINS, "missing": NOT_FOUND_FOR_USER_ADMINS,
         "other:id": NOT_FOUND_FOR_USER_ADMINS, "missing:id": NOT_FOUND_FOR_USER_ADMINS},
        verify_end_customer_saved, needs=("location",), same_answer=(("other", "missing"), ("other:id", "missing:id")),
    ),
    # ------------------------------------------------------------------ the cart
    "addToCart": Spec(
        "mutation", mutation("addToCart", "AddToCartInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"productId": w.gid(t, "Product") if t != "own:inactive"
                                else to_global_id("Product", w.catalogue.inactive)}},
        {"own": BUYERS, "own:inactive": where_allowed(BUYERS, typed("PRODUCT_UNAVAILABLE")),
         "missing": where_allowed(BUYERS, typed("PRODUCT_UNAVAILABLE"))},
        verify_cart_changed,
    ),
    "updateCartLine": Spec(
        "mutation", mutation("updateCartLine", "UpdateCartLineInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"productId": w.gid(t, "Product"), "quantity": 3}},
        {"own": BUYERS, "missing": NOT_FOUND_FOR_BUYERS}, verify_cart_changed, needs=("caller_cart",),
    ),
    "setSubstitution": Spec(
        "mutation", mutation("setSubstitution", "SetSubstitutionInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"productId": w.gid(t, "Product"), "allowed": False}},
        {"own": BUYERS, "missing": NOT_FOUND_FOR_BUYERS}, verify_cart_changed, needs=("caller_cart",),
    ),
    "updateCart": Spec(
        "mutation", mutation("updateCart", "UpdateCartInput", ORDER_PAYLOAD),
        update_cart_variables,
        {"own": BUYERS, "own:end-customer": BUYERS, "other:end-customer": NOT_FOUND_FOR_BUYERS,
         "missing:end-customer": NOT_FOUND_FOR_BUYERS, "other:cost-centre": NOT_FOUND_FOR_BUYERS,
         "missing:cost-centre": NOT_FOUND_FOR_BUYERS, "other:slot": where_allowed(BUYERS, typed("INVALID_DELIVERY")),
         "missing:slot": where_allowed(BUYERS, typed("INVALID_DELIVERY"))},
        verify_cart_changed, needs=("caller_cart", "location", "cost_centre"),
        same_answer=(("other:end-customer", "missing:end-customer"), ("other:cost-centre", "missing:cost-centre"),
                     ("other:slot", "missing:slot")),
    ),
    "submitOrder": Spec(
        "mutation", mutation("submitOrder", "SubmitOrderInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"idempotencyKey": f"key-{w.own.company_id}-submit"}}, {"own": BUYERS}, verify_submitted,
        needs=("caller_cart",),
    ),
    "saveCart": Spec(
        "mutation",
        mutation("saveCart", "SaveCartInput", "... on SavedCartPayload { savedCart { id name ownedByMe } }"),
        lambda w, t: {"input": {"name": "For Fridays"}}, {"own:new": BUYERS}, verify_saved_cart, needs=("caller_cart",),
    ),
    "updateSavedCart": Spec(
        "mutation",
        mutation("updateSavedCart", "UpdateSavedCartInput",
                 "... on SavedCartPayload { savedCart { id name ownedByMe } }"),
        lambda w, t: {"input": {"id": saved_cart_gid(w, t), "name": "Renamed"}},
        {"own": BUYERS, "own:shared": row(U, A, NF, NF, F, F, clients=F), "own:private": NOT_FOUND_FOR_BUYERS,
         "other:shared": NOT_FOUND_FOR_BUYERS, "missing": NOT_FOUND_FOR_BUYERS},
        verify_saved_cart, needs=("saved_carts", "caller_saved_cart"),
        same_answer=(("other:shared", "missing"), ("own:private", "missing")),
    ),
    "deleteSavedCart": Spec(
        "mutation", mutation("deleteSavedCart", "SavedCartIdInput", "... on DeleteSavedCartPayload { deletedId }"),
        lambda w, t: {"input": {"id": saved_cart_gid(w, t)}},
        {"own": BUYERS, "own:shared": row(U, A, NF, NF, F, F, clients=F), "own:private": NOT_FOUND_FOR_BUYERS,
         "other:shared": NOT_FOUND_FOR_BUYERS, "missing": NOT_FOUND_FOR_BUYERS},
        verify_saved_cart_deleted, needs=("saved_carts", "caller_saved_cart"),
        same_answer=(("other:shared", "missing"), ("own:private", "missing")),
    ),
    "addSavedCartToCart": Spec(
        "mutation", mutation("addSavedCartToCart", "SavedCartIdInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"id": saved_cart_gid(w, t)}},
        {"own": BUYERS, "own:shared": BUYERS, "own:private": NOT_FOUND_FOR_BUYERS, "other:shared": NOT_FOUND_FOR_BUYERS,
         "missing": NOT_FOUND_FOR_BUYERS},
        verify_saved_cart_added, needs=("saved_carts", "caller_saved_cart"),
        same_answer=(("other:shared", "missing"), ("own:private", "missing")),
    ),
    # ------------------------------------------------------------------ orders after submission
    "cancelOrder": Spec(
        "mutation", mutation("cancelOrder", "CancelOrderInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"id": pending_order(w, t), "reason": "Not needed"}},
        {"own:pending": row(U, A, A, NF, F, F, clients(F, NF, NF, NF, F)),
         "other:pending": row(U, NF, NF, NF, NF, F, clients=NF), "missing": everyone(NF) | {"anonymous": U}},
        verify_order_status("CANCELLED", "pending"), needs=("orders",),
        same_answer=(("other:pending", "missing"),),
    ),
    "fulfilOrder": Spec(
        "mutation", mutation("fulfilOrder", "FulfilOrderInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"id": w.gid(t, "Order", "approved")}},
        {"own": OPERATOR, "other": OPERATOR, "missing": where_allowed(OPERATOR, NF)},
        verify_order_status("FULFILLED", "approved"), needs=("orders",),
    ),
    "recordReturn": Spec(
        "mutation", mutation("recordReturn", "RecordReturnInput", ORDER_PAYLOAD),
        return_variables, {"own": OPERATOR, "other": OPERATOR, "missing": where_allowed(OPERATOR, NF)},
        verify_return, needs=("orders",),
    ),
    "approveOrder": Spec(
        "mutation", mutation("approveOrder", "DecideOrderInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"id": pending_order(w, t)}},
        {"own": APPROVERS, "other": where_allowed(APPROVERS, NF), "missing": where_allowed(APPROVERS, NF)},
        verify_decided("APPROVED"), needs=("orders",), same_answer=(("other", "missing"),),
    ),
    "rejectOrder": Spec(
        "mutation", mutation("rejectOrder", "DecideOrderInput", ORDER_PAYLOAD),
        lambda w, t: {"input": {"id": pending_order(w, t), "comment": "Too much"}},
        {"own": APPROVERS, "other": where_allowed(APPROVERS, NF), "missing": where_allowed(APPROVERS, NF)},
        verify_decided("REJECTED"), needs=("orders",), same_answer=(("other", "missing"),),
    ),
    "approveOrders": Spec(
        "mutation",
        "mutation($input: DecideOrdersInput!) { approveOrders(input: $input) { results { orderId order { id status } "
        "error { __typename code message field } } } }",
        lambda w, t: {"input": {"ids": [pending_order(w, t)]}},
        {"own": APPROVERS, "other": where_allowed(APPROVERS, NF), "missing": where_allowed(APPROVERS, NF)},
        verify_bulk("APPROVED"), needs=("orders",), unwrap=unwrap_bulk,
    ),
    "rejectOrders": Spec(
        "mutation",
        "mutation($input: DecideOrdersInput!) { rejectOrders(input: $input) { results { orderId order { id status } "
        "error { __typename code message field } } } }",
        lambda w, t: {"input": {"ids": [pending_order(w, t)], "comment": "Too much"}},
        {"own": APPROVERS, "other": where_allowed(APPROVERS, NF), "missing": where_allowed(APPROVERS, NF)},
        verify_bulk("REJECTED"), needs=("orders",), unwrap=unwrap_bulk,
    ),
    # ------------------------------------------------------------------ spend control
    "saveCostCentre": Spec(
        "mutation",
        mutation("saveCostCentre", "CostCentreInput", "... on CostCentrePayload { costCentre { id name } }"),
        cost_centre_variables,
        {"own": ADMIN_ONLY, "own:update": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_cost_centre_saved, needs=("cost_centre",), same_answer=(("other", "missing"),),
    ),
    "setUserCostCentres": Spec(
        "mutation",
        mutation("setUserCostCentres", "SetUserCostCentresInput",
                 "... on UserCostCentresPayload { userId costCentres { id } defaultId }"),
        user_cost_centres_variables,
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS,
         "other:centre": NOT_FOUND_FOR_ADMINS, "missing:centre": NOT_FOUND_FOR_ADMINS},
        verify_user_cost_centres, needs=("cost_centre",),
        same_answer=(("other", "missing"), ("other:centre", "missing:centre")),
    ),
    "saveBudget": Spec(
        "mutation", mutation("saveBudget", "BudgetInput", "... on BudgetPayload { budget { id name ownerId } }"),
        budget_variables,
        {"own": ADMIN_ONLY, "own:update": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS,
         "other:user": NOT_FOUND_FOR_ADMINS, "missing:user": NOT_FOUND_FOR_ADMINS,
         "other:centre": NOT_FOUND_FOR_ADMINS, "missing:centre": NOT_FOUND_FOR_ADMINS,
         "other:id": NOT_FOUND_FOR_ADMINS, "missing:id": NOT_FOUND_FOR_ADMINS},
        verify_budget_saved, needs=("budget", "cost_centre"),
        same_answer=(("other", "missing"), ("other:user", "missing:user"), ("other:centre", "missing:centre"),
                     ("other:id", "missing:id")),
    ),
    "setPurchaseLimit": Spec(
        "mutation",
        mutation("setPurchaseLimit", "SetPurchaseLimitInput",
                 "... on PurchaseLimitPayload { purchaseLimit { userId perOrder { amount } } }"),
        input_of(userId=lambda w, t: w.gid(t, "User"), perOrder="500.00"),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_limit_set, same_answer=(("other", "missing"),),
    ),
    "applyForInvoice": Spec(
        "mutation",
        mutation("applyForInvoice", "ApplyForInvoiceInput",
                 "... on CreditPayload { credit { companyId latestApplication { id status } } }"),
        lambda w, t: {"input": {"message": "We would like invoices"}}, {"own": ADMIN_ONLY}, verify_applied,
    ),
    "decideInvoiceApplication": Spec(
        "mutation",
        mutation("decideInvoiceApplication", "DecideInvoiceApplicationInput",
                 "... on CreditPayload { credit { companyId invoiceEnabled } }"),
        input_of(id=lambda w, t: w.gid(t, "InvoiceApplication"), approve=True),
        {"own": OPERATOR, "other": OPERATOR, "missing": where_allowed(OPERATOR, NF)},
        verify_credit_of_target(lambda credit: credit["invoiceEnabled"] is True), needs=("invoice_application",),
    ),
    "setCreditLimit": Spec(
        "mutation",
        mutation("setCreditLimit", "SetCreditLimitInput",
                 "... on CreditPayload { credit { companyId creditLimit { amount } } }"),
        input_of(companyId=lambda w, t: w.gid(t, "Company"), creditLimit="1234.00"),
        {"own": OPERATOR, "other": OPERATOR, "missing": where_allowed(OPERATOR, NF)},
        verify_credit_of_target(lambda credit: credit["creditLimit"]["amount"] == "1234.00"),
    ),
    "setCompanyInvoicing": Spec(
        "mutation",
        mutation("setCompanyInvoicing", "SetCompanyInvoicingInput",
                 "... on CompanyInvoicingPayload { company { id invoiceDays paymentTermsDays } }"),
        input_of(companyId=lambda w, t: w.gid(t, "Company"), invoiceDays=[10, 25], paymentTermsDays=20),
        {"own": OPERATOR, "other": OPERATOR, "missing": where_allowed(OPERATOR, NF)}, verify_company_invoicing,
    ),
    "registerPayment": Spec(
        "mutation",
        mutation("registerPayment", "RegisterPaymentInput",
                 "... on CreditPayload { credit { companyId outstanding { amount } } }"),
        input_of(companyId=lambda w, t: w.gid(t, "Company"), amount="1.00"),
        {"own": OPERATOR, "other": OPERATOR, "missing": where_allowed(OPERATOR, NF)},
        verify_credit_of_target(), needs=("orders",),
    ),
    "saveApprovalRule": Spec(
        "mutation",
        mutation("saveApprovalRule", "ApprovalRuleInput", "... on ApprovalRulePayload { rule { id name } }"),
        rule_variables,
        {"own": ADMIN_ONLY, "own:update": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS,
         "other:group": NOT_FOUND_FOR_ADMINS, "missing:group": NOT_FOUND_FOR_ADMINS,
         "other:user": NOT_FOUND_FOR_ADMINS, "missing:user": NOT_FOUND_FOR_ADMINS,
         "other:centre": NOT_FOUND_FOR_ADMINS, "missing:centre": NOT_FOUND_FOR_ADMINS},
        verify_rule_saved, needs=("orders", "cost_centre"),
        same_answer=(("other", "missing"), ("other:group", "missing:group"), ("other:user", "missing:user"),
                     ("other:centre", "missing:centre")),
    ),
    "deleteApprovalRule": Spec(
        "mutation",
        mutation("deleteApprovalRule", "DeleteApprovalRuleInput", "... on DeleteApprovalRulePayload { deletedId }"),
        input_of(id=lambda w, t: w.gid(t, "ApprovalRule")),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_rule_deleted, needs=("orders",), same_answer=(("other", "missing"),),
    ),
    # ------------------------------------------------------------------ API clients
    "createApiClient": Spec(
        "mutation",
        mutation("createApiClient", "CreateApiClientInput",
                 "... on ApiClientSecretPayload { secret apiClient { id name } }"),
        lambda w, t: {"input": {"name": "Books", "scopes": ["ORDERS_READ"]}}, {"own": ADMIN_ONLY},
        verify_api_client_created,
    ),
    "revokeApiClient": Spec(
        "mutation",
        mutation("revokeApiClient", "ApiClientIdInput", "... on ApiClientPayload { apiClient { id revokedAt } }"),
        input_of(id=lambda w, t: w.gid(t, "ApiClient")),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_api_client(revoked=True), needs=("api_client",), same_answer=(("other", "missing"),),
    ),
    "rotateApiClientSecret": Spec(
        "mutation",
        mutation("rotateApiClientSecret", "RotateApiClientSecretInput",
                 "... on ApiClientSecretPayload { secret apiClient { id revokedAt secrets { hint } } }"),
        input_of(id=lambda w, t: w.gid(t, "ApiClient"), overlapHours=1),
        {"own": ADMIN_ONLY, "other": NOT_FOUND_FOR_ADMINS, "missing": NOT_FOUND_FOR_ADMINS},
        verify_api_client(revoked=False), needs=("api_client",), same_answer=(("other", "missing"),),
    ),
    # ------------------------------------------------------------------ webhooks
    "webhookEndpoints": Spec(
        "query",
        "{ webhookEndpoints(first: 100) { edges { node { id deliveries(first: 10) { edges { node { id } } } } } } }",
        no_variables, {"own": WEBHOOK_MANAGERS}, verify_webhook_endpoints, needs=("webhooks",),
    ),
    "createWebhookEndpoint": Spec(
        "mutation",
        mutation("createWebhookEndpoint", "CreateWebhookEndpointInput",
                 "... on WebhookSecretPayload { secret webhookEndpoint { id url } }"),
        lambda w, t: {"input": {"url": "https://erp.example.com/new", "events": ["ORDER_APPROVED"]}},
        {"own": WEBHOOK_MANAGERS}, verify_webhook_created,
    ),
    "updateWebhookEndpoint": Spec(
        "mutation",
        mutation("updateWebhookEndpoint", "UpdateWebhookEndpointInput",
                 "... on WebhookEndpointPayload { webhookEndpoint { id description enabled } }"),
        input_of(id=lambda w, t: w.gid(t, "WebhookEndpoint"), description="Renamed", enabled=False),
        {"own": WEBHOOK_MANAGERS, "other": where_allowed(WEBHOOK_MANAGERS, NF),
         "missing": where_allowed(WEBHOOK_MANAGERS, NF)},
        verify_webhook_endpoint(lambda r: r["webhookEndpoint"]["description"] == "Renamed"),
        needs=("webhooks",), same_answer=(("other", "missing"),),
    ),
    "deleteWebhookEndpoint": Spec(
        "mutation",
        mutation("deleteWebhookEndpoint", "DeleteWebhookEndpointInput",
                 "... on DeleteWebhookEndpointPayload { deletedId }"),
        input_of(id=lambda w, t: w.gid(t, "WebhookEndpoint")),
        {"own": WEBHOOK_MANAGERS, "other": where_allowed(WEBHOOK_MANAGERS, NF),
         "missing": where_allowed(WEBHOOK_MANAGERS, NF)},
        verify_webhook_deleted, needs=("webhooks",), same_answer=(("other", "missing"),),
    ),
    "rotateWebhookSecret": Spec(
        "mutation",
        mutation("rotateWebhookSecret", "RotateWebhookSecretInput",
                 "... on WebhookSecretPayload { secret webhookEndpoint { id previousSecretExpiresAt } }"),
        input_of(id=lambda w, t: w.gid(t, "WebhookEndpoint")),
        {"own": WEBHOOK_MANAGERS, "other": where_allowed(WEBHOOK_MANAGERS, NF),
         "missing": where_allowed(WEBHOOK_MANAGERS, NF)},
        verify_webhook_endpoint(lambda r: r["secret"].startswith("whsec_")
                                and r["webhookEndpoint"]["previousSecretExpiresAt"] is not None),
        needs=("webhooks",), same_answer=(("other", "missing"),),
    ),
    "redeliverWebhook": Spec(
        "mutation",
        mutation("redeliverWebhook", "RedeliverWebhookInput",
                 "... on WebhookDeliveryPayload { delivery { id status } }"),
        input_of(deliveryId=lambda w, t: w.gid(t, "WebhookDelivery")),
        {"own": WEBHOOK_MANAGERS, "other": where_allowed(WEBHOOK_MANAGERS, NF),
         "missing": where_allowed(WEBHOOK_MANAGERS, NF)},
        verify_redelivery, needs=("webhooks",), same_answer=(("other", "missing"),),
    ),
    # ------------------------------------------------------------------ delegation while away
    "approvalDelegations": Spec(
        "query", "{ approvalDelegations { id approverId delegateId } }", no_variables, {"own": APPROVERS},
        verify_delegations, needs=("delegations",),
    ),
    "setApprovalDelegate": Spec(
        "mutation",
        mutation("setApprovalDelegate", "SetApprovalDelegateInput",
                 "... on ApprovalDelegationPayload { delegation { id approverId delegateId active } }"),
        input_of(delegateId=delegate_of, until="2999-01-01T00:00:00Z"),
        {"own": APPROVERS, "other": where_allowed(APPROVERS, NF), "missing": where_allowed(APPROVERS, NF)},
        verify_delegate_set, same_answer=(("other", "missing"),),
    ),
    "cancelApprovalDelegation": Spec(
        "mutation",
        mutation("cancelApprovalDelegation", "CancelApprovalDelegationInput",
                 "... on ApprovalDelegationPayload { delegation { id active } }"),
        input_of(id=lambda w, t: w.gid(t, "ApprovalDelegation")),
        {"own": APPROVERS, "other": where_allowed(APPROVERS, NF), "missing": where_allowed(APPROVERS, NF)},
        verify_delegation_cancelled, needs=("delegations",), same_answer=(("other", "missing"),),
    ),
}


# --- the matrix is complete ---------------------------------------------------------------------------------------

def schema_root_fields() -> dict[str, str]:
    schema = build_schema()._schema
    fields = {name: "query" for name in schema.query_type.fields}
    if schema.mutation_type is not None:
        for name in schema.mutation_type.fields:
            assert name not in fields, f"{name} is both a query and a mutation"
            fields[name] = "mutation"
    return fields


def test_every_root_field_has_an_entry():
    fields = schema_root_fields()
    missing = sorted(set(fields) - set(ENTRIES))
    stale = sorted(set(ENTRIES) - set(fields))
    assert (missing, stale) == ([], []), f"root fields without a matrix entry: {missing}; entries for no field: {stale}"
    assert {name: spec.kind for name, spec in ENTRIES.items()} == fields


def test_every_subscription_has_its_matrix():
    """Subscriptions run over a WebSocket, not over the HTTP this matrix calls: their role matrix (every
    caller, what they may subscribe to and exactly which changes they then hear of) is SUBSCRIPTION_MATRIX
    in tests/schema/test_subscription.py, run through a real WebSocket."""
    from tests.schema.test_subscription import SUBSCRIPTION_MATRIX

    schema = build_schema()._schema
    assert schema.subscription_type is not None
    assert set(schema.subscription_type.fields) == set(SUBSCRIPTION_MATRIX)
    assert not set(schema.subscription_type.fields) & set(schema_root_fields())


def test_node_entry_covers_every_node_type():
    schema = build_schema()._schema
    node_types = {t.name for t in schema.get_implementations(schema.get_type("Node")).objects}
    targets = ENTRIES["node"].expect
    assert {t.split(":")[1] for t in targets if ":" in t} == node_types
    assert all(f"{side}:{t}" in targets for t in node_types for side in ("own", "other", "missing") if t != "Product")


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_is_well_formed(name):
    spec = ENTRIES[name]
    (operation,) = graphql.parse(spec.document).definitions
    assert operation.operation.value == spec.kind
    assert [s.name.value for s in operation.selection_set.selections] == [name]
    assert not graphql.validate(build_schema()._schema, graphql.parse(spec.document))
    assert spec.expect, "an entry needs at least one target"
    for target, outcomes in spec.expect.items():
        assert set(outcomes) == set(CALLERS), f"{name}/{target} does not say what every caller gets"
    for first, second in spec.same_answer:
        assert first in spec.expect and second in spec.expect
    assert set(spec.needs) <= set(FEATURES)


# --- the matrix -----------------------------------------------------------------------------------------------------

def check_outcome(body: dict, spec: Spec, name: str, outcome: Outcome) -> Any:
    errors = body.get("errors")
    if outcome.kind == "error":
        assert errors and len(errors) == 1, body
        assert errors[0].get("extensions", {}).get("code") == outcome.code, body
        assert errors[0]["path"] == [name], body
        assert body.get("data") is None or body["data"].get(name) is None, body
        return None
    assert not errors, body
    result = body["data"][name]
    checked = spec.unwrap(result) if spec.unwrap and result is not None else result
    if outcome.kind == "null":
        assert result is None, body
    elif outcome.kind == "typed":
        assert checked is not None and checked["__typename"] == "MutationError", body
        assert checked["code"] == outcome.code, body
    else:
        assert result is not None, body
        assert not (isinstance(checked, dict) and checked.get("__typename") == "MutationError"), body
    return result


def outcome_of(body: dict, spec: Spec, name: str) -> Outcome:
    """The outcome a response shows (for messages; check_outcome asserts the details)."""
    errors = body.get("errors")
    if errors:
        return Outcome("error", errors[0].get("extensions", {}).get("code"))
    result = body["data"][name]
    checked = spec.unwrap(result) if spec.unwrap and result is not None else result
    if result is None:
        return NULL
    if isinstance(checked, dict) and checked.get("__typename") == "MutationError":
        return typed(checked["code"])
    return ALLOWED


MATRIX = [
    pytest.param(name, target, caller, id=f"{name}-{target}-{caller}")
    for name, spec in ENTRIES.items() for target in spec.expect for caller in CALLERS
]


@pytest.mark.parametrize(("name", "target", "caller"), MATRIX)
async def test_matrix(matrix, name, target, caller):
    spec = ENTRIES[name]
    outcome = spec.expect[target][caller]
    writes = spec.kind == "mutation" and outcome == ALLOWED
    world = await world_for(matrix, caller, spec.needs, fresh=writes)
    try:
        if spec.prepare:
            await spec.prepare(world)
        if writes:  # only the targeted company may change
            kept = tuple(side for side in ("own", "other") if side not in spec.may_change(target))
            before = await snapshot(world, kept, full=False) if kept else {}
        else:
            before = await snapshot(world)
        body = await world.api.raw(spec.document, spec.variables(world, target), token=world.token)
        if target in spec.bugs:
            assert outcome_of(body, spec, name) == outcome, f"APPLICATION BUG: {spec.bugs[target]}\n{body}"
        result = check_outcome(body, spec, name, outcome)
        if writes:
            after = await snapshot(world, kept, full=False) if kept else {}
            assert after == before, (
                "an allowed call changed a company it does not target:\n" + "\n".join(changes(before, after)))
        else:
            after = await snapshot(world)
            assert after == before, (
                "a call that may not write changed the database:\n" + "\n".join(changes(before, after)))
        if outcome == ALLOWED and spec.verify:
            await spec.verify(world, target, result)
    except BaseException:
        matrix["worlds"].pop(caller, None)  # never reuse a world a failed case may have spoiled
        raise


SAME_ANSWER = [
    pytest.param(name, first, second, caller, id=f"{name}-{first}-vs-{second}-{caller}")
    for name, spec in ENTRIES.items() for first, second in spec.same_answer for caller in CALLERS
    if spec.expect[first][caller] == spec.expect[second][caller] and caller not in spec.same_answer_except
]


@pytest.mark.parametrize(("name", "first", "second", "caller"), SAME_ANSWER)
async def test_answers_that_must_not_differ(matrix, name, first, second, caller):
    """Another company's object gets exactly the answer of a missing id (and an unknown email the
    answer of a known one): nothing tells a caller that something exists outside their company."""
    spec = ENTRIES[name]
    writes = spec.kind == "mutation" and ALLOWED in (spec.expect[first][caller], spec.expect[second][caller])
    world = await world_for(matrix, caller, spec.needs, fresh=writes)
    try:
        if spec.prepare:
            await spec.prepare(world)
        bodies = [await world.api.raw(spec.document, spec.variables(world, target), token=world.token)
                  for target in (first, second)]
        for body in bodies:  # an API client's budget left differs from one request to the next, by design
            body.get("extensions", {}).pop("rateLimit", None)
        assert bodies[0] == bodies[1]
    except BaseException:
        matrix["worlds"].pop(caller, None)
        raise


# --- the instruments can fail -----------------------------------------------------------------------------------

async def test_snapshot_sees_every_write_to_either_company_and_nothing_else(matrix):
    """The "nothing changed" assertions are only as good as the snapshot: each write below must show."""
    from models import LoginThrottle, OutboxMessage, Product
    world = await world_for(matrix, "admin", ("orders", "location", "saved_carts", "budget"), fresh=True)
    writes = [
        ("a group of the other company", update(Group).where(Group.id == world.other.spare_group_id).values(name="x")),
        ("a role in the other company",
         update(Membership).where(Membership.id == world.other.target.membership_id).values(role="manager")),
        ("a person of the own company", update(User).where(User.id == world.own.target.user_id).values(first_name="x")),
        ("an order's status",
         update(Order).where(Order.id == world.other.values["order_approved"]).values(status="cancelled")),
        ("an order line",
         update(OrderLine).where(OrderLine.id == world.own.values["fulfilled_line"]).values(quantity=9)),
        ("a session",
         update(AuthSession).where(AuthSession.user_id == world.own.members["admin"].user_id)
         .values(revoked_at=utcnow())),
        ("a saved cart",
         update(models.SavedCart).where(models.SavedCart.id == world.other.values["saved_shared"])
         .values(shared=False)),
        ("a budget",
         update(models.Budget).where(models.Budget.id == world.other.values["budget"]).values(amount_minor=1)),
        ("mail to a member",
         models.OutboxMessage.__table__.insert().values(recipient=world.other.target.email, subject="s", body="b")),
        ("the catalogue", update(Product).where(Product.id == world.catalogue.paper).values(name="Renamed paper")),
        ("a company of nobody in the world", Company.__table__.insert().values(
            name="Third AS", country="NO", org_number="923609016", currency="NOK", street="s", postal_code="0150",
            city="Oslo",
            contact_email="third@example.com", order_payment_method="invoice")),
    ]
    for description, statement in writes:
        before = await snapshot(world)
        async with world.services.db.transaction() as session:
            await session.execute(statement)
        assert changes(before, await snapshot(world)), f"the snapshot missed a write to {description}"
    not_state = [
        ("delivery of queued mail", update(OutboxMessage).values(sent_at=utcnow(), attempts=1, transport="log")),
        ("a failed sign-in counted",
         LoginThrottle.__table__.insert().values(key="email:x@example.com", failures=1, last_failure_at=utcnow())),
    ]
    for description, statement in not_state:
        before = await snapshot(world)
        async with world.services.db.transaction() as session:
            await session.execute(statement)
        assert changes(before, await snapshot(world)) == [], f"{description} is bookkeeping, not state"
    own_only = await snapshot(world, ("own",), full=False)
    async with world.services.db.transaction() as session:
        await session.execute(update(Group).where(Group.id == world.other.group_id).values(name="y"))
    assert await snapshot(world, ("own",), full=False) == own_only, "a company's snapshot holds another company's rows"
    async with world.services.db.transaction() as session:
        await session.execute(update(Group).where(Group.id == world.own.group_id).values(name="y"))
    assert await snapshot(world, ("own",), full=False) != own_only
