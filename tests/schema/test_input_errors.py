"""`MutationError.field` names the input field that was sent, for every mutation.

Generated from the schema: every mutation that takes an `input` has an entry of deliberately bad
inputs in BAD_INPUTS (`test_every_mutation_has_bad_inputs` fails when one is missing), each with
the exact code and field it must answer. Every field that comes back is checked against the
mutation's input type, walked here independently of the application: camelCase names joined by
dots, list positions as numbers (`address.city`, `tiers.0.roles`, `ids.1`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
)
from sqlalchemy import select

from models import OutboxMessage, Role
from schema import build_schema
from tests.factories import VALID_NO_ORG_NUMBERS, Api, Member, Tenant
from tests.ordering_helpers import (
    add_to_cart,
    approval_rule,
    change_product,
    create_product,
    gid,
    operator,
    place_order,
    shop,
    succeeded,
)

SCHEMA = build_schema()._schema
MISSING = 987_654_321


# --- what a path into an input is, read off the schema ----------------------------------------------


def input_paths(input_type, prefix: str = "", depth: int = 0) -> set[str]:
    """Every path into an input type, with `#` for a list position."""
    paths: set[str] = set()
    named = input_type.of_type if isinstance(input_type, GraphQLNonNull) else input_type
    if isinstance(named, GraphQLList):
        item = f"{prefix}.#" if prefix else "#"
        return {item} | input_paths(named.of_type, item, depth + 1)
    if isinstance(named, GraphQLInputObjectType) and depth < 6:
        for name, field in named.fields.items():
            path = f"{prefix}.{name}" if prefix else name
            paths |= {path} | input_paths(field.type, path, depth + 1)
    return paths


def as_pattern(field: str) -> str:
    return ".".join("#" if part.isdigit() else part for part in field.split("."))


def mutations_with_input() -> dict[str, Any]:
    return {
        name: field.args["input"].type for name, field in SCHEMA.mutation_type.fields.items() if "input" in field.args
    }


def test_the_path_walk_sees_nesting_and_lists():
    paths = input_paths(SCHEMA.type_map["ApprovalRuleInput"])
    assert {"name", "tiers", "tiers.#", "tiers.#.roles", "tiers.#.userIds", "tiers.#.userIds.#"} <= paths
    assert "tiers.roles" not in paths and "reason" not in paths
    assert {"fields", "fields.unitPrice", "id"} <= input_paths(SCHEMA.type_map["UpdateProductInput"])
    assert as_pattern("lines.12.quantity") == "lines.#.quantity"


# --- a shop to act in -----------------------------------------------------------------------------------


class Shop:
    """A company with one signed-in member per role, a product and an operator; orders, carts and
    other objects are made on demand through the API."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tenant: Tenant
        self.product: int
        self.operator: Member

    async def build(self) -> Shop:
        self.tenant = await shop(self.api)
        self.product = await create_product(self.api.services)
        self.operator = await operator(self.api)
        return self

    def member(self, role: Role) -> Member:
        return self.tenant[role]

    def token(self, caller: str) -> str | None:
        if caller == "anonymous":
            return None
        if caller == "operator":
            return self.operator.token
        return self.tenant[Role(caller)].token

    async def call(self, name: str, input: dict, caller: str = "admin") -> dict:
        type_name = str(SCHEMA.mutation_type.fields[name].args["input"].type).rstrip("!")
        body = await self.api.raw(
            f"mutation($input: {type_name}!) {{ {name}(input: $input) {{ __typename {ERROR_SELECTIONS[name]} }} }}",
            {"input": input},
            self.token(caller),
        )
        assert "errors" not in body, body
        return body["data"][name]

    async def cart(self, role: Role = Role.CUSTOMER) -> None:
        succeeded(await add_to_cart(self.api, self.member(role), product_id=self.product, quantity=2), "addToCart")

    async def approved_order(self) -> str:
        return (await place_order(self.api, self.member(Role.CUSTOMER), [(self.product, 1)]))["id"]

    async def fulfilled_order(self) -> tuple[str, str]:
        """A fulfilled order and the global id of its line."""
        order = await place_order(self.api, self.member(Role.CUSTOMER), [(self.product, 1)])
        fulfilled = await self.call("fulfilOrder", {"id": order["id"], "comment": ""}, "operator")
        assert fulfilled["__typename"] == "OrderPayload", fulfilled
        return order["id"], order["lines"][0]["id"]

    async def pending_order(self) -> str:
        await approval_rule(self.api.services, self.tenant.company_id)
        return (await place_order(self.api, self.member(Role.CUSTOMER), [(self.product, 1)]))["id"]

    async def location(self) -> str:
        result = await self.call(
            "saveDeliveryLocation",
            {
                "name": "Unit A",
                "address": ADDRESS,
                "slots": [{"weekday": "MONDAY", "startsAt": "08:00", "endsAt": "10:00"}],
            },
        )
        return result["location"]["id"]

    async def saved_cart(self) -> str:
        await self.cart()
        return (await self.call("saveCart", {"name": "Weekly"}, "customer"))["savedCart"]["id"]

    async def invitation_token(self) -> str:
        invited = await self.call(
            "inviteUser", {"email": "invitee@example.com", "groupId": self.tenant.group_gid, "role": "CUSTOMER"}
        )
        assert invited["__typename"] == "UserPayload", invited
        async with self.api.services.db.read_sessions() as session:
            body = await session.scalar(select(OutboxMessage.body).order_by(OutboxMessage.id.desc()).limit(1))
        return re.search(r"accept-invitation\?token=([A-Za-z0-9_-]+)", body).group(1)


def _error_selection(type_, depth: int = 0) -> str:
    """A selection that reaches every MutationError a result can hold (a union member, or an
    `error` field of a bulk result), with enough of the payload to build on."""
    named = get_named_type(type_)
    if named.name == "MutationError":
        return "__typename code message field"
    if isinstance(named, GraphQLUnionType):
        payloads = [t for t in named.types if t.name != "MutationError"]
        parts = [f"... on {t.name} {{ {_payload_selection(t)} }}" for t in payloads]
        return " ".join([*parts, "... on MutationError { __typename code message field }"])
    if isinstance(named, GraphQLObjectType) and depth < 3:
        fields = [
            f"{name} {{ {sub} }}"
            for name, field in named.fields.items()
            if (sub := _error_selection(field.type, depth + 1))
        ]
        return " ".join(fields)
    return ""


def _payload_selection(payload: GraphQLObjectType) -> str:
    """The ids a case may need from a successful payload (e.g. the new location's id)."""
    parts = []
    for name, field in payload.fields.items():
        named = get_named_type(field.type)
        if isinstance(named, GraphQLObjectType) and "id" in named.fields:
            parts.append(f"{name} {{ id }}")
    return " ".join(parts) or "__typename"


ERROR_SELECTIONS = {name: _error_selection(field.type) for name, field in SCHEMA.mutation_type.fields.items()}


def mutation_errors(result: Any) -> list[dict]:
    """Every MutationError in a result, in document order."""
    if isinstance(result, dict):
        if result.get("__typename") == "MutationError":
            return [result]
        return [error for value in result.values() for error in mutation_errors(value)]
    if isinstance(result, list):
        return [error for value in result for error in mutation_errors(value)]
    return []


# --- the bad inputs ---------------------------------------------------------------------------------------

ADDRESS = {"street": "Gate 1", "postalCode": "0150", "city": "Oslo"}
GOOD_ADMIN = {
    "email": "first.admin@example.com",
    "firstName": "Ada",
    "lastName": "Admin",
    "password": "a-long-passphrase",
}
Build = Callable[[Shop], Awaitable[dict]]


@dataclass(frozen=True)
class Bad:
    """One deliberately bad input: who sends it, how it is built, and every (code, field) it gets back."""

    caller: str
    build: Build
    expect: tuple[tuple[str, str | None], ...]


def bad(
    caller: str,
    build: Build | dict,
    code: str | None = None,
    field: str | None = None,
    expect: tuple[tuple[str, str | None], ...] | None = None,
) -> Bad:
    if isinstance(build, dict):
        fixed = build

        async def build(_: Shop) -> dict:
            return fixed

    return Bad(caller, build, expect if expect is not None else ((code, field),) if code else ())


def registration(**changes) -> dict:
    values = {
        "country": "NO",
        "orgNumber": VALID_NO_ORG_NUMBERS[0],
        "name": "Ny Bedrift AS",
        "address": ADDRESS,
        "contactEmail": "post@example.com",
        "administrator": GOOD_ADMIN,
    }
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            values[outer] = {**values[outer], inner: value}
        else:
            values[key] = value
    return values


def rule(**changes) -> dict:
    return {
        "name": "Big orders",
        "condition": "TOTAL_ABOVE",
        "threshold": "100.00",
        "tiers": [{"roles": ["ADMIN"]}],
    } | changes


async def _budget(s: Shop, **changes) -> dict:
    return {
        "name": "Team",
        "ownerType": "GROUP",
        "ownerId": s.tenant.group_gid,
        "period": "MONTHLY",
        "amount": "100.00",
        "action": "BLOCK",
        "active": True,
    } | changes


async def _with_cart(s: Shop, input: dict) -> dict:
    await s.cart()
    return input


async def _unsellable_cart(s: Shop) -> dict:
    await s.cart()
    await change_product(s.api.services, s.product, active=False)
    return {"idempotencyKey": "key-0123456789"}


async def _second_application(s: Shop) -> dict:
    first = await s.call("applyForInvoice", {"message": "Please"})
    assert first["__typename"] == "CreditPayload", first
    return {"message": "Again"}


async def _product_with_sku(s: Shop) -> dict:
    await create_product(s.api.services, sku="TAKEN-1")
    return {"id": gid("Product", s.product), "fields": {"sku": "TAKEN-1"}}


async def _two_orders(s: Shop) -> dict:
    return {"ids": [await s.approved_order(), gid("Order", MISSING)], "comment": "fine"}


BAD_INPUTS: dict[str, list[Bad]] = {
    # --- sign-in and passwords
    "login": [bad("anonymous", {"email": "nobody@example.com", "password": "wrong-password"}, "INVALID_CREDENTIALS")],
    "refreshToken": [bad("anonymous", {"refreshToken": "not-a-token"}, "INVALID_TOKEN", "refreshToken")],
    "switchCompany": [bad("admin", {"companyId": gid("Company", MISSING)}, "NOT_FOUND", "companyId")],
    # The same answer whatever the address, so that nobody learns which accounts exist.
    "requestPasswordReset": [bad("anonymous", {"email": "not an address"})],
    "resetPassword": [
        bad("anonymous", {"token": "not-a-token", "newPassword": "short"}, "WEAK_PASSWORD", "newPassword"),
        bad("anonymous", {"token": "not-a-token", "newPassword": "a-long-passphrase"}, "INVALID_TOKEN", "token"),
    ],
    # --- the company
    "registerCompany": [
        bad("anonymous", registration(orgNumber="923609017"), "INVALID_ORG_NUMBER", "orgNumber"),
        bad("anonymous", registration(name=" "), "INVALID_INPUT", "name"),
        bad("anonymous", registration(**{"address.city": ""}), "INVALID_INPUT", "address.city"),
        bad("anonymous", registration(contactEmail="post@"), "INVALID_INPUT", "contactEmail"),
        bad("anonymous", registration(**{"administrator.email": "admin"}), "INVALID_INPUT", "administrator.email"),
        bad("anonymous", registration(**{"administrator.lastName": " "}), "INVALID_INPUT", "administrator.lastName"),
        bad(
            "anonymous", registration(**{"administrator.password": "short"}), "WEAK_PASSWORD", "administrator.password"
        ),
    ],
    "updateCompany": [
        bad("admin", {"address": {**ADDRESS, "postalCode": ""}}, "INVALID_INPUT", "address.postalCode"),
        bad("admin", {"contactEmail": "nowhere"}, "INVALID_INPUT", "contactEmail"),
    ],
    "setApprovalReminderHours": [
        bad("admin", {"hours": 0}, "INVALID_INPUT", "hours"),
        bad("admin", {"hours": 721}, "INVALID_INPUT", "hours"),
    ],
    "applyForInvoice": [bad("admin", _second_application, "APPLICATION_PENDING")],
    "decideInvoiceApplication": [
        bad("operator", {"id": gid("InvoiceApplication", MISSING), "approve": True, "note": ""}, "NOT_FOUND", "id")
    ],
    "setCreditLimit": [
        bad(
            "operator",
            lambda s: _async({"companyId": s.tenant.gid, "creditLimit": "-1"}),
            "INVALID_INPUT",
            "creditLimit",
        ),
        bad("operator", {"companyId": gid("Company", MISSING), "creditLimit": "10"}, "NOT_FOUND", "companyId"),
    ],
    "setCompanyInvoicing": [
        bad("operator", lambda s: _async({"companyId": s.tenant.gid, "invoiceDays": [29]}), "INVALID_INPUT",
            "invoiceDays"),
        bad("operator", lambda s: _async({"companyId": s.tenant.gid, "invoiceDays": [1, 1]}), "INVALID_INPUT",
            "invoiceDays"),
        bad("operator", lambda s: _async({"companyId": s.tenant.gid, "invoiceDays": [1], "paymentTermsDays": 121}),
            "INVALID_INPUT", "paymentTermsDays"),
        bad("operator", {"companyId": gid("Company", MISSING), "invoiceDays": [1]}, "NOT_FOUND", "companyId"),
    ],
    "registerPayment": [
        bad("operator", lambda s: _async({"companyId": s.tenant.gid, "amount": "0"}), "INVALID_INPUT", "amount"),
        bad("operator", lambda s: _async({"companyId": s.tenant.gid, "amount": "1.001"}), "INVALID_INPUT", "amount"),
        bad("operator", {"kid": "1234567890", "amount": "10"}, "INVALID_INPUT", "kid"),
        bad("operator", {"kid": "1234567897", "amount": "10"}, "NOT_FOUND", "kid"),
        bad("operator", {"invoiceId": gid("Invoice", MISSING), "amount": "10"}, "NOT_FOUND", "invoiceId"),
        bad("operator", lambda s: _async({"companyId": s.tenant.gid, "amount": "10", "receivedOn": "2999-01-01"}),
            "INVALID_INPUT", "receivedOn"),
    ],
    # --- users and groups
    "inviteUser": [
        bad(
            "admin",
            lambda s: _async({"email": "nobody", "groupId": s.tenant.group_gid, "role": "CUSTOMER"}),
            "INVALID_INPUT",
            "email",
        ),
        bad(
            "admin",
            {"email": "a@example.com", "groupId": gid("Group", MISSING), "role": "CUSTOMER"},
            "NOT_FOUND",
            "groupId",
        ),
        bad(
            "manager",
            lambda s: _async({"email": "a@example.com", "groupId": s.tenant.group_gid, "role": "ADMIN"}),
            "ROLE_NOT_ALLOWED",
            "role",
        ),
    ],
    "acceptInvitation": [
        bad(
            "anonymous",
            {"token": "not-a-token", "firstName": "A", "lastName": "B", "password": "a-long-passphrase"},
            "INVALID_TOKEN",
            "token",
        ),
        bad("anonymous", lambda s: _invited(s, password="short"), "WEAK_PASSWORD", "password"),
        bad("anonymous", lambda s: _invited(s, firstName=" "), "INVALID_INPUT", "firstName"),
    ],
    "createUser": [
        bad(
            "admin",
            lambda s: _async(
                {
                    "firstName": " ",
                    "lastName": "B",
                    "email": "c@example.com",
                    "groupId": s.tenant.group_gid,
                    "role": "CUSTOMER",
                    "paymentMethods": [],
                }
            ),
            "INVALID_INPUT",
            "firstName",
        ),
        bad(
            "admin",
            lambda s: _async(
                {
                    "firstName": "A",
                    "lastName": "B",
                    "email": "c@",
                    "groupId": s.tenant.group_gid,
                    "role": "CUSTOMER",
                    "paymentMethods": [],
                }
            ),
            "INVALID_INPUT",
            "email",
        ),
    ],
    "updateUser": [
        bad("admin", {"id": gid("User", MISSING)}, "NOT_FOUND", "id"),
        bad(
            "admin",
            lambda s: _async({"id": s.member(Role.CUSTOMER).gid, "lastName": "x" * 101}),
            "INVALID_INPUT",
            "lastName",
        ),
        bad(
            "admin",
            lambda s: _async({"id": s.member(Role.CUSTOMER).gid, "groupId": gid("Group", MISSING)}),
            "NOT_FOUND",
            "groupId",
        ),
        bad("admin", lambda s: _async({"id": s.member(Role.ADMIN).gid, "role": "MANAGER"}), "SELF_ACTION", "role"),
    ],
    "deactivateUser": [bad("admin", lambda s: _async({"id": s.member(Role.ADMIN).gid}), "SELF_ACTION", "id")],
    "reactivateUser": [bad("admin", lambda s: _async({"id": s.member(Role.CUSTOMER).gid}), "INVALID_STATE", "id")],
    "moveUsersToGroup": [
        bad(
            "admin",
            lambda s: _async({"userIds": [gid("User", MISSING)], "groupId": s.tenant.group_gid}),
            "NOT_FOUND",
            "userIds",
        ),
        bad(
            "admin",
            lambda s: _async({"userIds": [s.member(Role.CUSTOMER).gid], "groupId": gid("Group", MISSING)}),
            "NOT_FOUND",
            "groupId",
        ),
    ],
    "restrictUserPermission": [
        bad(
            "admin",
            lambda s: _async({"userId": s.member(Role.ADMIN).gid, "permission": "ORDER_CREATE"}),
            "SELF_ACTION",
            "userId",
        )
    ],
    "restoreUserPermission": [
        bad("admin", {"userId": gid("User", MISSING), "permission": "ORDER_CREATE"}, "NOT_FOUND", "userId")
    ],
    "createGroup": [bad("admin", {"name": "  "}, "INVALID_INPUT", "name")],
    "renameGroup": [
        bad("admin", {"id": gid("Group", MISSING), "name": "New"}, "NOT_FOUND", "id"),
        bad("admin", lambda s: _async({"id": s.tenant.group_gid, "name": ""}), "INVALID_INPUT", "name"),
    ],
    "deleteGroup": [bad("admin", lambda s: _async({"id": s.tenant.group_gid}), "GROUP_NOT_EMPTY", "id")],
    # --- the catalogue
    "createProduct": [
        bad(
            "operator",
            {"sku": "NEW-1", "name": "New", "unit": "pcs", "category": "Food", "unitPrice": "1.999", "vatRate": 25},
            "INVALID_INPUT",
            "unitPrice",
        ),
        bad(
            "operator",
            {"sku": "NEW-1", "name": "New", "unit": "pcs", "category": "Food", "unitPrice": "1.00"},
            "INVALID_INPUT",
            "vatRate",
        ),
        bad(
            "operator",
            {"sku": "NEW 1", "name": "New", "unit": "pcs", "category": "Food", "unitPrice": "1.00", "vatRate": 25},
            "INVALID_INPUT",
            "sku",
        ),
    ],
    "updateProduct": [
        bad(
            "operator",
            lambda s: _async({"id": gid("Product", s.product), "fields": {"unitPrice": "abc"}}),
            "INVALID_INPUT",
            "fields.unitPrice",
        ),
        bad(
            "operator",
            lambda s: _async({"id": gid("Product", s.product), "fields": {"vatRate": 7}}),
            "INVALID_INPUT",
            "fields.vatRate",
        ),
        bad("operator", _product_with_sku, "SKU_TAKEN", "fields.sku"),
        bad("operator", {"id": gid("Product", MISSING), "fields": {"name": "x"}}, "NOT_FOUND", "id"),
    ],
    # --- delivery locations and end customers
    "saveDeliveryLocation": [
        bad("admin", {"name": "Unit", "address": {**ADDRESS, "city": " "}}, "INVALID_INPUT", "address.city"),
        bad(
            "admin",
            {
                "name": "Unit",
                "address": ADDRESS,
                "slots": [
                    {"weekday": "MONDAY", "startsAt": "08:00", "endsAt": "10:00"},
                    {"weekday": "TUESDAY", "startsAt": "10:00", "endsAt": "08:00"},
                ],
            },
            "INVALID_INPUT",
            "slots.1",
        ),
        bad("admin", {"id": gid("DeliveryLocation", MISSING), "name": "Unit", "address": ADDRESS}, "NOT_FOUND", "id"),
    ],
    "saveEndCustomer": [
        bad("admin", {"name": "Eve", "locationId": gid("DeliveryLocation", MISSING)}, "NOT_FOUND", "locationId"),
        bad("admin", lambda s: _location_input(s, name=""), "INVALID_INPUT", "name"),
    ],
    # --- the cart and orders
    "addToCart": [
        bad(
            "customer",
            lambda s: _async({"productId": gid("Product", s.product), "quantity": 0}),
            "INVALID_INPUT",
            "quantity",
        ),
        bad("customer", {"sku": "NO-SUCH-SKU", "quantity": 1}, "PRODUCT_UNAVAILABLE", "sku"),
        bad("customer", {"quantity": 1}, "INVALID_INPUT", "productId"),
    ],
    "updateCartLine": [
        bad(
            "customer",
            lambda s: _with_cart(s, {"productId": gid("Product", s.product), "quantity": -1}),
            "INVALID_INPUT",
            "quantity",
        ),
        bad(
            "customer",
            lambda s: _with_cart(s, {"productId": gid("Product", MISSING), "quantity": 1}),
            "NOT_FOUND",
            "productId",
        ),
    ],
    "setSubstitution": [
        bad(
            "customer",
            lambda s: _with_cart(s, {"productId": gid("Product", MISSING), "allowed": False}),
            "NOT_FOUND",
            "productId",
        ),
        bad("customer", {"allowed": False}, "EMPTY_CART"),
    ],
    "updateCart": [
        bad("customer", {"reference": "r" * 201}, "INVALID_INPUT", "reference"),
        bad("customer", {"poNumber": "p" * 101}, "INVALID_INPUT", "poNumber"),
        bad("customer", {"endCustomerId": gid("EndCustomer", MISSING)}, "NOT_FOUND", "endCustomerId"),
        bad("customer", {"deliveryDate": "2000-01-03"}, "INVALID_DELIVERY", "deliveryDate"),
        bad("customer", {"costCentreId": gid("CostCentre", MISSING)}, "NOT_FOUND", "costCentreId"),
    ],
    "submitOrder": [
        bad("customer", {"idempotencyKey": "short"}, "INVALID_INPUT", "idempotencyKey"),
        bad("customer", {"idempotencyKey": "key-0123456789"}, "EMPTY_CART"),
        # The cart is at fault, not the input: no field.
        bad("customer", _unsellable_cart, "PRODUCT_UNAVAILABLE"),
    ],
    "cancelOrder": [bad("customer", {"id": gid("Order", MISSING), "reason": ""}, "NOT_FOUND", "id")],
    "fulfilOrder": [bad("operator", lambda s: _pending_input(s, comment=""), "INVALID_TRANSITION", "id")],
    "recordReturn": [
        bad(
            "operator",
            lambda s: _async(
                {"orderId": gid("Order", MISSING), "lineId": gid("OrderLine", MISSING), "quantity": 1, "reason": ""}
            ),
            "NOT_FOUND",
            "orderId",
        ),
        bad("operator", lambda s: _return_input(s, quantity=0), "INVALID_INPUT", "quantity"),
        bad("operator", lambda s: _return_input(s, lineId=gid("OrderLine", MISSING)), "NOT_FOUND", "lineId"),
        bad("operator", lambda s: _return_input(s, quantity=2), "RETURN_EXCEEDS_QUANTITY", "quantity"),
        bad("operator", lambda s: _approved_return_input(s), "INVALID_TRANSITION", "orderId"),
    ],
    "saveCart": [
        bad("customer", lambda s: _with_cart(s, {"name": " "}), "INVALID_INPUT", "name"),
        bad("customer", {"name": "Weekly"}, "EMPTY_CART"),
    ],
    "updateSavedCart": [
        bad(
            "customer",
            lambda s: _saved_input(
                s, lines=[{"productId": gid("Product", MISSING), "quantity": 1, "substitutionAllowed": True}]
            ),
            "PRODUCT_UNAVAILABLE",
            "lines.0.productId",
        ),
        bad(
            "customer",
            lambda s: _saved_input(
                s, lines=[{"productId": gid("Product", s.product), "quantity": 0, "substitutionAllowed": True}]
            ),
            "INVALID_INPUT",
            "lines.0.quantity",
        ),
        bad("customer", lambda s: _saved_input(s, shared=True), "ROLE_NOT_ALLOWED", "shared"),
        bad("customer", {"id": gid("SavedCart", MISSING), "name": "x"}, "NOT_FOUND", "id"),
    ],
    "deleteSavedCart": [bad("customer", {"id": gid("SavedCart", MISSING)}, "NOT_FOUND", "id")],
    "addSavedCartToCart": [bad("customer", {"id": gid("SavedCart", MISSING)}, "NOT_FOUND", "id")],
    # --- spend control
    "saveCostCentre": [
        bad(
            "admin",
            {"name": "Project", "code": "PRJ", "invoiceAddress": {**ADDRESS, "street": ""}, "active": True},
            "INVALID_INPUT",
            "invoiceAddress.street",
        ),
        bad(
            "admin",
            {"name": "Project", "code": " ", "invoiceAddress": ADDRESS, "active": True},
            "INVALID_INPUT",
            "code",
        ),
    ],
    "setUserCostCentres": [
        bad(
            "admin",
            lambda s: _async({"userId": s.member(Role.CUSTOMER).gid, "costCentreIds": [gid("CostCentre", MISSING)]}),
            "NOT_FOUND",
            "costCentreIds",
        ),
        bad("admin", {"userId": gid("User", MISSING), "costCentreIds": []}, "NOT_FOUND", "userId"),
    ],
    "saveBudget": [
        bad("admin", lambda s: _budget(s, amount="12,50"), "INVALID_INPUT", "amount"),
        bad("admin", lambda s: _budget(s, ownerId=gid("Group", MISSING)), "NOT_FOUND", "ownerId"),
        bad(
            "admin",
            lambda s: _budget(s, period="FIXED", startsOn="2026-02-01", endsOn="2026-01-01"),
            "INVALID_INPUT",
            "startsOn",
        ),
        bad("admin", lambda s: _budget(s, name=""), "INVALID_INPUT", "name"),
    ],
    "setPurchaseLimit": [
        bad(
            "admin",
            lambda s: _async({"userId": s.member(Role.CUSTOMER).gid, "perOrder": "-5"}),
            "INVALID_INPUT",
            "perOrder",
        ),
        bad(
            "admin",
            lambda s: _async({"userId": s.member(Role.CUSTOMER).gid, "perMonth": "-0.01"}),
            "INVALID_INPUT",
            "perMonth",
        ),
        bad(
            "admin",
            lambda s: _async({"userId": s.member(Role.CUSTOMER).gid, "perOrder": "ten"}),
            "INVALID_INPUT",
            "perOrder",
        ),
        bad("admin", {"userId": gid("User", MISSING), "perOrder": "5"}, "NOT_FOUND", "userId"),
    ],
    "saveApprovalRule": [
        bad("admin", rule(tiers=[]), "INVALID_INPUT", "tiers"),
        bad("admin", rule(tiers=[{"roles": ["ADMIN"]}, {"roles": ["CUSTOMER"]}]), "INVALID_INPUT", "tiers.1.roles"),
        bad("admin", rule(tiers=[{"roles": [], "userIds": [gid("User", MISSING)]}]), "NOT_FOUND", "tiers.0.userIds"),
        bad("admin", rule(threshold="lots"), "INVALID_INPUT", "threshold"),
        bad("admin", rule(condition="PRODUCT_CATEGORY", threshold=None), "INVALID_INPUT", "category"),
        bad("admin", rule(appliesToGroupIds=[gid("Group", MISSING)]), "NOT_FOUND", "appliesToGroupIds"),
    ],
    "deleteApprovalRule": [bad("admin", {"id": gid("ApprovalRule", MISSING)}, "NOT_FOUND", "id")],
    "approveOrder": [bad("order_approver", {"id": gid("Order", MISSING), "comment": ""}, "NOT_FOUND", "id")],
    "rejectOrder": [
        bad("order_approver", lambda s: _pending_input(s, comment=" "), "INVALID_INPUT", "comment"),
        bad("order_approver", {"id": gid("Order", MISSING), "comment": "No"}, "NOT_FOUND", "id"),
    ],
    "approveOrders": [
        bad("admin", _two_orders, expect=(("INVALID_TRANSITION", "ids.0"), ("NOT_FOUND", "ids.1"))),
    ],
    "rejectOrders": [
        bad("order_approver", lambda s: _pending_ids(s, comment=""), expect=(("INVALID_INPUT", "comment"),) * 2),
    ],
    # --- API clients
    "createApiClient": [
        bad("admin", {"name": " ", "scopes": ["ORDERS_READ"]}, "INVALID_INPUT", "name"),
        bad("admin", {"name": "ERP", "scopes": []}, "INVALID_INPUT", "scopes"),
    ],
    "revokeApiClient": [bad("admin", {"id": gid("ApiClient", MISSING)}, "NOT_FOUND", "id")],
    "rotateApiClientSecret": [
        bad("admin", lambda s: _client_input(s, overlapHours=169), "INVALID_INPUT", "overlapHours"),
        bad("admin", {"id": gid("ApiClient", MISSING)}, "NOT_FOUND", "id"),
        bad("admin", lambda s: _client_input(s, revoked=True), "INVALID_STATE", "id"),
    ],
    # --- webhooks
    "createWebhookEndpoint": [
        bad("admin", {"url": "ftp://erp.example.com/hooks", "events": ["ORDER_APPROVED"]}, "URL_NOT_ALLOWED", "url"),
        bad("admin", {"url": "https://erp.example.com/hooks", "events": []}, "INVALID_INPUT", "events"),
        bad("admin", {"url": "https://erp.example.com/hooks", "events": ["ORDER_APPROVED"], "description": "x" * 201},
            "INVALID_INPUT", "description"),
    ],
    "updateWebhookEndpoint": [
        bad("admin", {"id": gid("WebhookEndpoint", MISSING), "enabled": False}, "NOT_FOUND", "id"),
        bad("admin", lambda s: _endpoint_input(s, url="https://user:pw@erp.example.com/"), "URL_NOT_ALLOWED", "url"),
        bad("admin", lambda s: _endpoint_input(s, events=[]), "INVALID_INPUT", "events"),
    ],
    "deleteWebhookEndpoint": [bad("admin", {"id": gid("WebhookEndpoint", MISSING)}, "NOT_FOUND", "id")],
    "rotateWebhookSecret": [bad("admin", {"id": gid("WebhookEndpoint", MISSING)}, "NOT_FOUND", "id")],
    "redeliverWebhook": [bad("admin", {"deliveryId": gid("WebhookDelivery", MISSING)}, "NOT_FOUND", "deliveryId")],
    # --- delegation while away
    "setApprovalDelegate": [
        bad("order_approver", {"delegateId": gid("User", MISSING), "until": "2999-01-01T00:00:00Z"},
            "NOT_FOUND", "delegateId"),
        bad("order_approver", lambda s: _async({"delegateId": s.member(Role.ORDER_APPROVER).gid,
                                                "until": "2999-01-01T00:00:00Z"}), "INVALID_INPUT", "delegateId"),
        bad("order_approver", lambda s: _async({"delegateId": s.member(Role.ADMIN).gid,
                                                "until": "2020-01-01T00:00:00Z"}), "INVALID_INPUT", "until"),
        bad("order_approver", lambda s: _async({"delegateId": s.member(Role.ADMIN).gid, "from": "2999-01-02T00:00:00Z",
                                                "until": "2999-01-01T00:00:00Z"}), "INVALID_INPUT", "from"),
        bad("admin", lambda s: _async({"delegateId": s.member(Role.ORDER_APPROVER).gid,
                                       "approverId": gid("User", MISSING), "until": "2999-01-01T00:00:00Z"}),
            "NOT_FOUND", "approverId"),
    ],
    "cancelApprovalDelegation": [
        bad("admin", {"id": gid("ApprovalDelegation", MISSING)}, "NOT_FOUND", "id"),
        bad("admin", lambda s: _ended_delegation(s), "INVALID_STATE", "id"),
    ],
}


async def _ended_delegation(s: Shop) -> dict:
    input = {"delegateId": s.member(Role.ORDER_APPROVER).gid, "until": "2999-01-01T00:00:00Z"}
    delegation_id = (await s.call("setApprovalDelegate", input))["delegation"]["id"]
    cancelled = await s.call("cancelApprovalDelegation", {"id": delegation_id})
    assert cancelled["__typename"] == "ApprovalDelegationPayload", cancelled
    return {"id": delegation_id}


async def _endpoint_input(s: Shop, **changes) -> dict:
    created = await s.call("createWebhookEndpoint",
                           {"url": "https://erp.example.com/hooks", "events": ["ORDER_APPROVED"]})
    return {"id": created["webhookEndpoint"]["id"]} | changes


async def _client_input(s: Shop, *, revoked: bool = False, **changes) -> dict:
    created = await s.call("createApiClient", {"name": "ERP", "scopes": ["ORDERS_READ"]})
    client_id = created["apiClient"]["id"]
    if revoked:
        assert (await s.call("revokeApiClient", {"id": client_id}))["__typename"] == "ApiClientPayload"
    return {"id": client_id} | changes


async def _async(value: dict) -> dict:
    return value


async def _invited(s: Shop, **changes) -> dict:
    values = {
        "token": await s.invitation_token(),
        "firstName": "Ida",
        "lastName": "Invitert",
        "password": "a-long-passphrase",
    }
    return values | changes


async def _location_input(s: Shop, **changes) -> dict:
    return {"name": "Eve", "locationId": await s.location()} | changes


async def _pending_input(s: Shop, **changes) -> dict:
    return {"id": await s.pending_order()} | changes


async def _pending_ids(s: Shop, **changes) -> dict:
    await approval_rule(s.api.services, s.tenant.company_id)
    ids = [
        (await place_order(s.api, s.member(buyer), [(s.product, 1)]))["id"] for buyer in (Role.CUSTOMER, Role.MANAGER)
    ]
    return {"ids": ids} | changes


async def _return_input(s: Shop, **changes) -> dict:
    order, line = await s.fulfilled_order()
    return {"orderId": order, "lineId": line, "quantity": 1, "reason": "Broken"} | changes


async def _approved_return_input(s: Shop) -> dict:
    order = await place_order(s.api, s.member(Role.CUSTOMER), [(s.product, 1)])
    return {"orderId": order["id"], "lineId": order["lines"][0]["id"], "quantity": 1, "reason": ""}


async def _saved_input(s: Shop, **changes) -> dict:
    return {"id": await s.saved_cart()} | changes


# --- the tests --------------------------------------------------------------------------------------------


def test_every_mutation_has_bad_inputs():
    mutations = set(mutations_with_input())
    assert sorted(mutations - set(BAD_INPUTS)) == [], "mutations without bad inputs in BAD_INPUTS"
    assert sorted(set(BAD_INPUTS) - mutations) == [], "BAD_INPUTS names mutations the schema does not have"
    assert all(BAD_INPUTS[name] for name in mutations)


def test_every_expected_field_is_a_path_into_the_input():
    inputs = mutations_with_input()
    wrong = [
        (name, field)
        for name, cases in BAD_INPUTS.items()
        for case in cases
        for _, field in case.expect
        if field is not None and as_pattern(field) not in input_paths(inputs[name])
    ]
    assert wrong == []


CASES = [
    pytest.param(name, index, id=f"{name}-{index}") for name, cases in BAD_INPUTS.items() for index in range(len(cases))
]


@pytest.mark.parametrize(("name", "index"), CASES)
async def test_bad_input_is_reported_on_the_field_that_was_sent(api, name, index):
    case = BAD_INPUTS[name][index]
    s = await Shop(api).build()
    input = await case.build(s)

    result = await s.call(name, input, case.caller)

    errors = mutation_errors(result)
    paths = input_paths(mutations_with_input()[name])
    for error in errors:
        assert error["field"] is None or as_pattern(error["field"]) in paths, (name, error)
        assert error["message"] and not re.search(
            r"Traceback|Error\(|NoneType|KeyError|ValueError", error["message"]
        ), error
    assert [(e["code"], e["field"]) for e in errors] == list(case.expect), result
