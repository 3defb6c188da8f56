"""Cost centres (invoice recipients) end to end: administrators manage them and attach users;
every order is booked to one of its buyer's cost centres; who may read what."""

from __future__ import annotations

from sqlalchemy import select

from models import CostCentre, MemberCostCentre, Role
from schema.relay import to_global_id
from tests.factories import create_company, create_member
from tests.spend_helpers import (
    call,
    cart,
    code_of,
    create_cost_centre,
    create_product,
    fill_cart,
    ok,
    placed,
    spend_tenant,
    submit,
)

COST_CENTRES = "{ costCentres { id name code active invoiceAddress { street postalCode city } } }"


def centre_input(name="Home care", code="care", **extra) -> dict:
    return {"name": name, "code": code, "invoiceAddress": {"street": "Trondheimsveien 100", "postalCode": "0565",
                                                            "city": "Oslo"}, **extra}


async def centres_in_db(services, company_id: int) -> list[tuple[str, str, bool]]:
    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(CostCentre).where(CostCentre.company_id == company_id)
                                      .order_by(CostCentre.id))).all()
        return [(c.code, c.name, c.active) for c in rows]


async def attachments(services, membership_id: int) -> list[tuple[int, bool]]:
    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(MemberCostCentre).where(MemberCostCentre.membership_id == membership_id)
                                      .order_by(MemberCostCentre.cost_centre_id))).all()
        return [(r.cost_centre_id, r.is_default) for r in rows]


async def test_admin_creates_and_updates_a_cost_centre(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN].token
    created = (await ok(api, "saveCostCentre", centre_input(), admin))["costCentre"]
    assert created["name"] == "Home care"
    assert created["code"] == "CARE"  # codes are upper-cased
    assert created["active"] is True
    assert created["invoiceAddress"] == {"street": "Trondheimsveien 100", "postalCode": "0565", "city": "Oslo"}

    updated = (await ok(api, "saveCostCentre", centre_input(name="Home care east", code="care-e", active=False,
                                                            id=created["id"]), admin))["costCentre"]
    assert updated["id"] == created["id"]
    assert (updated["name"], updated["code"], updated["active"]) == ("Home care east", "CARE-E", False)
    assert await centres_in_db(services, st.company_id) == [
        ("MAIN", "Head office", True), ("CARE-E", "Home care east", False)]


async def test_cost_centre_codes_are_unique_within_the_company(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    result = await call(api, "saveCostCentre", centre_input(code="main"), st[Role.ADMIN].token)
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "code")
    assert await centres_in_db(services, st.company_id) == [("MAIN", "Head office", True)]
    # Another company may use the same code.
    other = await spend_tenant(api, [Role.ADMIN])
    assert code_of(await call(api, "saveCostCentre", centre_input(code="CARE"), other[Role.ADMIN].token)) == "ok"
    assert code_of(await call(api, "saveCostCentre", centre_input(code="CARE"), st[Role.ADMIN].token)) == "ok"


async def test_updating_another_companys_cost_centre_is_not_found(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    other = await spend_tenant(api, [Role.ADMIN])
    result = await call(api, "saveCostCentre", centre_input(id=other.centre_gid), st[Role.ADMIN].token)
    assert result["code"] == "NOT_FOUND"
    assert await centres_in_db(services, other.company_id) == [("MAIN", "Head office", True)]


async def test_admin_attaches_a_user_to_cost_centres_with_a_default(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    admin, buyer = st[Role.ADMIN].token, st[Role.CUSTOMER]
    care = await create_cost_centre(services, st.company_id, code="CARE")
    payload = await ok(api, "setUserCostCentres", {
        "userId": buyer.gid, "costCentreIds": [st.centre_gid, to_global_id("CostCentre", care)],
        "defaultId": to_global_id("CostCentre", care)}, admin)
    assert payload["userId"] == buyer.gid
    assert payload["defaultId"] == to_global_id("CostCentre", care)
    assert [c["code"] for c in payload["costCentres"]] == ["MAIN", "CARE"]
    assert await attachments(services, buyer.membership_id) == [(st.centre_id, False), (care, True)]

    # Without a default, the first one listed becomes the default; the set is replaced.
    payload = await ok(api, "setUserCostCentres", {"userId": buyer.gid, "costCentreIds": [st.centre_gid]}, admin)
    assert payload["defaultId"] == st.centre_gid
    assert await attachments(services, buyer.membership_id) == [(st.centre_id, True)]


async def test_attaching_rejects_foreign_cost_centres_and_a_default_outside_the_set(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    other = await spend_tenant(api, [Role.ADMIN])
    admin, buyer = st[Role.ADMIN].token, st[Role.CUSTOMER]
    care = to_global_id("CostCentre", await create_cost_centre(services, st.company_id, code="CARE"))
    before = await attachments(services, buyer.membership_id)

    result = await call(api, "setUserCostCentres", {"userId": buyer.gid, "costCentreIds": [other.centre_gid]}, admin)
    assert (result["code"], result["field"]) == ("NOT_FOUND", "costCentreIds")
    result = await call(api, "setUserCostCentres",
                        {"userId": buyer.gid, "costCentreIds": [st.centre_gid], "defaultId": care}, admin)
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "defaultId")
    outsider = other[Role.ADMIN]
    result = await call(api, "setUserCostCentres", {"userId": outsider.gid, "costCentreIds": [st.centre_gid]}, admin)
    assert (result["code"], result["field"]) == ("NOT_FOUND", "userId")
    assert await attachments(services, buyer.membership_id) == before


async def test_an_order_is_booked_to_the_buyers_default_cost_centre(api, services):
    st = await spend_tenant(api, [Role.CUSTOMER])
    product = await create_product(services, net_minor=80_00)
    order = await placed(api, st[Role.CUSTOMER], product)
    assert order["costCentre"] == {"costCentreId": st.centre_gid, "name": "Head office", "code": "MAIN"}


async def test_the_buyer_may_choose_another_of_their_cost_centres(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    care = await create_cost_centre(services, st.company_id, code="CARE", name="Home care")
    await ok(api, "setUserCostCentres", {"userId": buyer.gid,
                                         "costCentreIds": [st.centre_gid, to_global_id("CostCentre", care)],
                                         "defaultId": st.centre_gid}, st[Role.ADMIN].token)
    product = await create_product(services, net_minor=80_00)
    order = await placed(api, buyer, product, costCentreId=to_global_id("CostCentre", care))
    assert order["costCentre"] == {
        "costCentreId": to_global_id("CostCentre", care), "name": "Home care", "code": "CARE"}

    # The next order, without a choice, goes to the default again.
    order = await placed(api, buyer, product)
    assert order["costCentre"]["code"] == "MAIN"


async def test_choosing_a_cost_centre_the_buyer_is_not_attached_to_is_not_found(api, services):
    st = await spend_tenant(api, [Role.CUSTOMER])
    other = await spend_tenant(api, [Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    unattached = to_global_id("CostCentre", await create_cost_centre(services, st.company_id, code="CARE"))
    product = await create_product(services, net_minor=80_00)
    await fill_cart(api, buyer, product)
    for centre in (unattached, other.centre_gid, to_global_id("CostCentre", 999_999)):
        result = await call(api, "updateCart", {"costCentreId": centre}, buyer.token)
        assert (result["code"], result["field"]) == ("NOT_FOUND", "costCentreId")
    order = (await submit(api, buyer))["order"]
    assert order["costCentre"]["costCentreId"] == st.centre_gid


async def test_an_inactive_cost_centre_cannot_be_chosen(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    care = await create_cost_centre(services, st.company_id, code="CARE")
    await ok(api, "setUserCostCentres",
             {"userId": buyer.gid, "costCentreIds": [st.centre_gid, to_global_id("CostCentre", care)]},
             st[Role.ADMIN].token)
    await ok(api, "saveCostCentre", centre_input(code="CARE", active=False, id=to_global_id("CostCentre", care)),
             st[Role.ADMIN].token)
    await fill_cart(api, buyer, await create_product(services, net_minor=80_00))
    result = await call(api, "updateCart", {"costCentreId": to_global_id("CostCentre", care)}, buyer.token)
    assert result["code"] == "NOT_FOUND"


async def test_a_buyer_without_a_cost_centre_cannot_submit(api, services):
    company_id, group_id = await create_company(services)
    buyer = await create_member(services, company_id, group_id, Role.CUSTOMER)
    await api.token_for(buyer)
    await fill_cart(api, buyer, await create_product(services, net_minor=80_00))
    result = await submit(api, buyer)
    assert (result["code"], result["field"]) == ("INVALID_INPUT", None)
    assert (await cart(api, buyer))["status"] == "DRAFT"


async def test_managers_read_all_cost_centres_and_customers_only_their_own(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.MANAGER, Role.CUSTOMER])
    await create_cost_centre(services, st.company_id, code="CARE")
    await spend_tenant(api, [Role.ADMIN])  # another company: its cost centre must not show
    for role in (Role.ADMIN, Role.MANAGER):
        data = await api.query(COST_CENTRES, token=st[role].token)
        assert [c["code"] for c in data["costCentres"]] == ["MAIN", "CARE"]
    data = await api.query(COST_CENTRES, token=st[Role.CUSTOMER].token)
    assert [c["code"] for c in data["costCentres"]] == ["MAIN"]


async def test_an_order_approver_cannot_list_cost_centres(api):
    st = await spend_tenant(api, [Role.ORDER_APPROVER])
    body = await api.raw(COST_CENTRES, token=st[Role.ORDER_APPROVER].token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_only_administrators_manage_cost_centres(api, services):
    st = await spend_tenant(api)
    buyer = st[Role.CUSTOMER]
    before_centres = await centres_in_db(services, st.company_id)
    before_attached = await attachments(services, buyer.membership_id)
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        token = st[role].token
        assert code_of(await call(api, "saveCostCentre", centre_input(), token)) == "FORBIDDEN"
        renamed = centre_input(id=st.centre_gid, name="Renamed")
        assert code_of(await call(api, "saveCostCentre", renamed, token)) == "FORBIDDEN"
        detached = {"userId": buyer.gid, "costCentreIds": []}
        assert code_of(await call(api, "setUserCostCentres", detached, token)) == "FORBIDDEN"
    assert await centres_in_db(services, st.company_id) == before_centres
    assert await attachments(services, buyer.membership_id) == before_attached


async def test_signed_out_callers_are_unauthenticated(api):
    body = await api.raw(COST_CENTRES)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
