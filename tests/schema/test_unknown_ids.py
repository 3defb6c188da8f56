"""An id that names nothing of the caller's is never read as "no id". Whether it is not an id at all,
the empty string, the id of an object of another type or another company's object, a filter on it
matches nothing (as `orders(filter:)` always did), a change of the object it names is NOT_FOUND, and
a reference to it in an input is refused on its field; nothing is written. Only null (or leaving the
field out) means "no filter", "create a new one" or "the default"."""

from __future__ import annotations

from models import Role
from resolvers.auth import INVALID_CREDENTIALS
from schema.relay import to_global_id
from tests.factories import PASSWORD
from tests.helpers import snapshot
from tests.spend_helpers import SpendTenant, create_product, group_budget, placed, rule, spend_tenant, tier

MISSING = 987_654_321
ERROR = "__typename ... on MutationError { code message field }"
USERS = "query($f: UserFilter) { users(first: 100, filter: $f) { edges { node { id } } } }"
ORDERS = "query($f: OrderFilter) { orders(first: 100, filter: $f) { edges { node { id } } } }"
END_CUSTOMERS = "query($l: ID) { endCustomers(locationId: $l, first: 100) { edges { node { id } } } }"
ADDRESS = {"street": "Gate 1", "postalCode": "0150", "city": "Oslo"}


def unknown_ids(st: SpendTenant, type_name: str, foreign: str) -> list[str]:
    """Ids that name no `type_name` of `st`'s: none at all, empty, an own object of another type,
    another company's object of the type (`foreign`), and a key no row has."""
    own_other_type = st.tenant.gid if type_name != "Company" else st[Role.ADMIN].gid
    return ["", "garbage", own_other_type, foreign, to_global_id(type_name, MISSING)]


async def ids(api, query: str, variables: dict, token: str | None, root: str) -> list[str]:
    return [edge["node"]["id"] for edge in (await api.query(query, variables, token))[root]["edges"]]


async def attempt(api, name: str, input_type: str, input: dict, token: str | None, payload: str = "") -> dict:
    """What one mutation answered: its MutationError, or its payload as selected."""
    body = await api.mutate(name, input_type, f"{ERROR} {payload}", input, token)
    assert "errors" not in body, body
    return body["data"][name]


async def location_and_customer(api, st: SpendTenant) -> tuple[str, str]:
    """A delivery location of the company and an end customer of it, saved by its administrator."""
    admin = st[Role.ADMIN].token
    location = await attempt(api, "saveDeliveryLocation", "DeliveryLocationInput",
                             {"name": "Sunny Hill", "address": ADDRESS, "slots": []}, admin,
                             "... on DeliveryLocationPayload { location { id } }")
    customer = await attempt(api, "saveEndCustomer", "EndCustomerInput",
                             {"name": "Astrid", "note": "", "locationId": location["location"]["id"]}, admin,
                             "... on EndCustomerPayload { endCustomer { id } }")
    return location["location"]["id"], customer["endCustomer"]["id"]


async def test_a_users_filter_on_an_id_that_is_no_group_of_yours_lists_nobody(api, services):
    st, foreign = await spend_tenant(api), await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN].token
    everyone = [m.gid for m in st.tenant.members.values()]
    assert await ids(api, USERS, {"f": None}, admin, "users") == everyone
    assert await ids(api, USERS, {"f": {"groupId": None}}, admin, "users") == everyone
    assert await ids(api, USERS, {"f": {"groupId": st.tenant.group_gid}}, admin, "users") == everyone
    for bad in unknown_ids(st, "Group", foreign.tenant.group_gid):
        assert await ids(api, USERS, {"f": {"groupId": bad}}, admin, "users") == [], bad


async def test_an_orders_filter_on_an_id_that_is_none_of_yours_lists_no_order(api, services):
    st, foreign = await spend_tenant(api), await spend_tenant(api, [Role.ADMIN])
    _, foreign_customer = await location_and_customer(api, foreign)
    order = await placed(api, st[Role.CUSTOMER], await create_product(services, net_minor=100_00))
    manager = st[Role.MANAGER].token
    assert await ids(api, ORDERS, {"f": None}, manager, "orders") == [order["id"]]
    assert await ids(api, ORDERS, {"f": {"buyerId": st[Role.CUSTOMER].gid, "groupId": st.tenant.group_gid}},
                     manager, "orders") == [order["id"]]
    for field, type_name, foreign_id in (("buyerId", "User", foreign[Role.ADMIN].gid),
                                         ("groupId", "Group", foreign.tenant.group_gid),
                                         ("endCustomerId", "EndCustomer", foreign_customer)):
        for bad in unknown_ids(st, type_name, foreign_id):
            assert await ids(api, ORDERS, {"f": {field: bad}}, manager, "orders") == [], (field, bad)


async def test_end_customers_of_a_location_that_is_none_of_yours_are_none(api, services):
    st, foreign = await spend_tenant(api), await spend_tenant(api, [Role.ADMIN])
    location, customer = await location_and_customer(api, st)
    foreign_location, _ = await location_and_customer(api, foreign)
    buyer = st[Role.CUSTOMER].token
    assert await ids(api, END_CUSTOMERS, {"l": None}, buyer, "endCustomers") == [customer]
    assert await ids(api, END_CUSTOMERS, {"l": location}, buyer, "endCustomers") == [customer]
    for bad in unknown_ids(st, "DeliveryLocation", foreign_location):
        assert await ids(api, END_CUSTOMERS, {"l": bad}, buyer, "endCustomers") == [], bad


async def test_changing_an_object_by_an_id_that_is_none_of_yours_is_not_found_and_creates_nothing(api, services):
    st, foreign = await spend_tenant(api), await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN].token
    location, _ = await location_and_customer(api, st)
    foreign_location, foreign_customer = await location_and_customer(api, foreign)
    foreign_ids = {
        "Budget": (await group_budget(api, foreign, 100_00))["id"],
        "CostCentre": foreign.centre_gid,
        "ApprovalRule": (await rule(api, foreign, name="All", condition="TOTAL_ABOVE", threshold="0",
                                    tiers=[tier("ADMIN")]))["id"],
        "DeliveryLocation": foreign_location,
        "EndCustomer": foreign_customer,
    }
    inputs = {
        ("saveBudget", "BudgetInput", "Budget", "No such budget"): {
            "name": "Team", "ownerType": "GROUP", "ownerId": st.tenant.group_gid, "period": "MONTHLY",
            "amount": "100.00", "action": "BLOCK"},
        ("saveCostCentre", "CostCentreInput", "CostCentre", "No such cost centre"): {
            "name": "Warehouse", "code": "WH", "invoiceAddress": ADDRESS},
        ("saveApprovalRule", "ApprovalRuleInput", "ApprovalRule", "No such approval rule"): {
            "name": "Large", "condition": "TOTAL_ABOVE", "threshold": "10.00", "tiers": [{"roles": ["ADMIN"]}]},
        ("saveDeliveryLocation", "DeliveryLocationInput", "DeliveryLocation", "No such delivery location"): {
            "name": "Harbour", "address": ADDRESS, "slots": []},
        ("saveEndCustomer", "EndCustomerInput", "EndCustomer", "No such end customer"): {
            "name": "Bjørn", "note": "", "locationId": location},
    }
    before = await snapshot(services)
    for (name, input_type, type_name, message), input in inputs.items():
        for bad in unknown_ids(st, type_name, foreign_ids[type_name]):
            result = await attempt(api, name, input_type, {"id": bad, **input}, admin)
            assert result == {"__typename": "MutationError", "code": "NOT_FOUND", "message": message,
                              "field": "id"}, (name, bad)
    assert await snapshot(services) == before


async def test_a_reference_to_an_id_that_is_none_of_yours_is_refused_on_its_field(api, services):
    st, foreign = await spend_tenant(api), await spend_tenant(api, [Role.ADMIN])
    admin, buyer = st[Role.ADMIN].token, st[Role.CUSTOMER]
    not_theirs = ("INVALID_INPUT", "The default must be one of the user's cost centres", "defaultId")
    cases = [
        # (mutation, input type, the referenced type, the input around a bad id, (code, message, field))
        ("saveApprovalRule", "ApprovalRuleInput", "CostCentre",
         lambda bad: {"name": "Per centre", "condition": "COST_CENTRE", "costCentreId": bad,
                      "tiers": [{"roles": ["ADMIN"]}]},
         ("NOT_FOUND", "No such cost centre", "costCentreId")),
        ("setUserCostCentres", "SetUserCostCentresInput", "CostCentre",
         lambda bad: {"userId": buyer.gid, "costCentreIds": [st.centre_gid], "defaultId": bad}, not_theirs),
        ("setUserCostCentres", "SetUserCostCentresInput", "CostCentre",
         lambda bad: {"userId": buyer.gid, "costCentreIds": [], "defaultId": bad}, not_theirs),
        ("updateUser", "UpdateUserInput", "Group", lambda bad: {"id": buyer.gid, "groupId": bad},
         ("NOT_FOUND", "No such group", "groupId")),
    ]
    foreign_ids = {"CostCentre": foreign.centre_gid, "Group": foreign.tenant.group_gid}
    before = await snapshot(services)
    for name, input_type, type_name, build, (code, message, field) in cases:
        for bad in unknown_ids(st, type_name, foreign_ids[type_name]):
            result = await attempt(api, name, input_type, build(bad), admin)
            assert result == {"__typename": "MutationError", "code": code, "message": message, "field": field}, (
                name, bad)
    assert await snapshot(services) == before
    # Null is the default: the first of the user's cost centres.
    result = await attempt(api, "setUserCostCentres", "SetUserCostCentresInput",
                           {"userId": buyer.gid, "costCentreIds": [st.centre_gid], "defaultId": None}, admin,
                           "... on UserCostCentresPayload { defaultId }")
    assert result == {"__typename": "UserCostCentresPayload", "defaultId": st.centre_gid}


async def test_signing_in_to_a_company_that_is_none_of_yours_signs_nobody_in(api, services):
    st, foreign = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER]), await spend_tenant(api, [Role.ADMIN])
    member = st[Role.CUSTOMER]
    # Four failures: one short of the lock-out (LOGIN_FREE_FAILURES), so that the last sign-in is judged alone.
    for bad in unknown_ids(st, "Company", foreign.tenant.gid)[:4]:
        result = await api.login(member.email, PASSWORD, company_id=bad)
        assert result == {"__typename": "MutationError", "code": "INVALID_CREDENTIALS",
                          "message": INVALID_CREDENTIALS}, bad
    signed_in = await api.login(member.email, PASSWORD, company_id=None)
    assert (signed_in["__typename"], signed_in["companyId"]) == ("AuthPayload", st.tenant.gid)
