"""Error messages are the API's own words: no library's text (email-validator's) and no Python quoting
of the input (`'abc'`, or `"Ola's"` when the text holds an apostrophe). Each answer is checked exactly
through the API, with its code and field, and a refused change is checked to have written nothing.
(Organisation numbers: tests/schema/test_company.py and tests/models/test_org_number.py.)"""

from __future__ import annotations

import pytest

from models import Role
from resolvers.validation import MAX_EMAIL_LENGTH
from tests.helpers import snapshot
from tests.spend_helpers import create_product, fill_cart, group_budget, place_order, spend_tenant

ERROR = "__typename ... on MutationError { code message field }"
NOT_VALID = "Not a valid email address: "


async def attempt(api, name: str, input_type: str, input: dict, token: str | None, payload: str = "") -> dict:
    body = await api.mutate(name, input_type, f"{ERROR} {payload}", input, token)
    assert "errors" not in body, body
    return body["data"][name]


def refused(code: str, message: str, field: str | None) -> dict:
    return {"__typename": "MutationError", "code": code, "message": message, "field": field}


@pytest.mark.parametrize(("email", "message"), [
    ("", "This field is required"),
    ("   ", "This field is required"),
    ("kari.example.com", NOT_VALID + "it needs an @ between the name and the domain"),
    ("@example.com", NOT_VALID + "it needs a name before the @ and a domain after it"),
    ("kari@", NOT_VALID + "it needs a name before the @ and a domain after it"),
    ("kari nordmann@example.com", NOT_VALID + "it may not contain spaces"),
    ("kari@nordmann", NOT_VALID + "the domain after the @ needs a dot, as in example.com"),
    ("kari@" + "a" * 250 + ".no", NOT_VALID + f"it may have at most {MAX_EMAIL_LENGTH} characters"),
    ("kari@printer.local", NOT_VALID + ".local is a special-use domain that receives no mail"),
    ("kari@hidden.onion", NOT_VALID + ".onion is a special-use domain that receives no mail"),
    ("kari@@example.com", NOT_VALID + "check the characters and dots of the name and the domain"),
    (".kari@example.com", NOT_VALID + "check the characters and dots of the name and the domain"),
    ("kari@example..com", NOT_VALID + "check the characters and dots of the name and the domain"),
    ("kari@[192.0.2.1]", NOT_VALID + "check the characters and dots of the name and the domain"),
])
async def test_a_refused_email_address_is_told_in_the_apis_words(api, services, email, message):
    tenant = await api.tenant([Role.ADMIN])
    before = await snapshot(services)
    result = await attempt(api, "inviteUser", "InviteUserInput",
                           {"email": email, "groupId": tenant.group_gid, "role": "CUSTOMER"}, tenant[Role.ADMIN].token)
    assert result == refused("INVALID_INPUT", message, "email")
    assert await snapshot(services) == before


async def test_a_taken_group_name_is_quoted_by_the_api_not_by_python(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN].token
    created = await attempt(api, "createGroup", "CreateGroupInput", {"name": "Ola's team"}, admin,
                            "... on GroupPayload { group { name } }")
    assert created == {"__typename": "GroupPayload", "group": {"name": "Ola's team"}}
    before = await snapshot(services)
    result = await attempt(api, "createGroup", "CreateGroupInput", {"name": "  ola's TEAM "}, admin)
    assert result == refused("GROUP_NAME_TAKEN", 'There is already a group named "ola\'s TEAM"', "name")
    assert await snapshot(services) == before


async def test_a_taken_saved_cart_name_is_quoted_by_the_api_not_by_python(api, services):
    st = await spend_tenant(api, [Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    await fill_cart(api, buyer, await create_product(services, net_minor=10_00))
    saved = await attempt(api, "saveCart", "SaveCartInput", {"name": "Kari's weekly"}, buyer.token,
                          "... on SavedCartPayload { savedCart { name } }")
    assert saved == {"__typename": "SavedCartPayload", "savedCart": {"name": "Kari's weekly"}}
    before = await snapshot(services)
    result = await attempt(api, "saveCart", "SaveCartInput", {"name": "Kari's weekly"}, buyer.token)
    assert result == refused("SAVED_CART_NAME_TAKEN", 'You already have a saved cart named "Kari\'s weekly"', "name")
    assert await snapshot(services) == before


async def test_a_budget_is_named_by_the_api_when_an_order_would_exceed_it(api, services):
    st = await spend_tenant(api)
    await group_budget(api, st, 100_00, action="BLOCK", name="Ola's team")
    goods = await create_product(services, net_minor=200_00)
    result = await place_order(api, st[Role.CUSTOMER], goods)
    assert {key: result.get(key) for key in ("__typename", "code", "message", "field")} == refused(
        "BUDGET_EXCEEDED", 'The order would exceed the budget "Ola\'s team" for this period', None)


async def test_roles_are_named_as_the_api_spells_them(api, services):
    tenant = await api.tenant([Role.ADMIN])
    before = await snapshot(services)
    rule = {"name": "Large orders", "condition": "TOTAL_ABOVE", "threshold": "100.00",
            "tiers": [{"roles": ["CUSTOMER"]}]}
    result = await attempt(api, "saveApprovalRule", "ApprovalRuleInput", rule, tenant[Role.ADMIN].token)
    assert result == refused("INVALID_INPUT", "The CUSTOMER role cannot approve orders", "tiers.0.roles")
    assert await snapshot(services) == before
