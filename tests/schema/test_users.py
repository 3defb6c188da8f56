"""Users end to end through the ASGI app: listing, creating, inviting, changing, deactivating,
restricting. Denied actions are checked to leave the database exactly as it was."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from app import create_app
from models import Group, Membership, MembershipStatus, OutboxMessage, PermissionRestriction, Role, User
from models.errors import DomainError, ErrorCode
from policies.actor import Actor
from resolvers.context import UseCaseContext
from resolvers.user import set_user_active, update_user
from schema.relay import decode_id, to_global_id
from tests import helpers
from tests.conftest import test_settings as make_test_settings
from tests.factories import PASSWORD, Api, create_company, create_member, error_code
from tests.helpers import assert_forbidden, snapshot

USER_FIELDS = "id email firstName lastName role status group { id name } paymentMethods restrictedPermissions"
RESULT = f"__typename ... on UserPayload {{ user {{ {USER_FIELDS} }} }} ... on MutationError {{ code message field }}"
INPUT_TYPES = {
    "inviteUser": "InviteUserInput", "createUser": "CreateUserInput", "updateUser": "UpdateUserInput",
    "deactivateUser": "UserIdInput", "reactivateUser": "UserIdInput", "acceptInvitation": "AcceptInvitationInput",
    "restrictUserPermission": "UserPermissionInput", "restoreUserPermission": "UserPermissionInput",
}
USERS_PAGE = """query($first: Int!, $after: String, $filter: UserFilter) {
  users(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id email role status } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
NEW_PASSWORD = "a-brand-new-password-9"


async def mutate(api: Api, name: str, input: dict, token: str | None) -> dict:
    """The whole response body of one user mutation."""
    return await api.mutate(name, INPUT_TYPES[name], RESULT, input, token)


async def ok(api: Api, name: str, input: dict, token: str) -> dict:
    """The user of a mutation that must succeed."""
    result = helpers.succeeded(await mutate(api, name, input, token), name)
    assert result["__typename"] == "UserPayload", result
    return result["user"]


async def failed(api: Api, name: str, input: dict, token: str) -> dict:
    """The typed error of a mutation that must fail as data."""
    return helpers.failed(await mutate(api, name, input, token), name)


async def membership(services, membership_id: int) -> Membership:
    async with services.db.read_sessions() as session:
        return await session.get_one(Membership, membership_id)


async def person(services, user_id: int) -> User:
    async with services.db.read_sessions() as session:
        return await session.get_one(User, user_id)


async def add_group(services, company_id: int, name: str) -> int:
    async with services.db.transaction() as session:
        group = Group(company_id=company_id, name=name)
        session.add(group)
        await session.flush()
        return group.id


async def emailed_token(services, email: str, path: str) -> str:
    """The token of the latest link of this kind mailed to this address."""
    await services.mailer.drain()
    async with services.db.read_sessions() as session:
        bodies = (await session.scalars(
            select(OutboxMessage.body).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id.desc())
        )).all()
    for body in bodies:
        match = re.search(rf"/{path}\?token=(\S+)", body)
        if match:
            return match.group(1)
    raise AssertionError(f"no {path} link mailed to {email}")


async def permissions_of(api: Api, token: str) -> list[str]:
    return (await api.query("{ me { permissions } }", token=token))["me"]["permissions"]


# --- listing -------------------------------------------------------------------------------


async def test_users_are_paged_with_cursors_in_creation_order(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER])
    extra = [await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER) for _ in range(3)]
    expected = [m.gid for m in tenant.members.values()] + [m.gid for m in extra]
    assert len(expected) == 7

    seen, after, pages = [], None, []
    while True:
        data = await api.query(USERS_PAGE, {"first": 3, "after": after}, tenant[Role.ADMIN].token)
        page = data["users"]
        pages.append(page)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        info = page["pageInfo"]
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == expected
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]

    # Cursors are opaque, and a page of size 0 still says whether anything follows.
    assert all(not edge["cursor"].isdigit() for p in pages for edge in p["edges"])
    empty = (await api.query(USERS_PAGE, {"first": 0}, tenant[Role.ADMIN].token))["users"]
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is True
    assert empty["pageInfo"]["endCursor"] is None
    # Managers hold user:read too.
    manager_view = (await api.query(USERS_PAGE, {"first": 100}, tenant[Role.MANAGER].token))["users"]
    assert [e["node"]["id"] for e in manager_view["edges"]] == expected


@pytest.mark.parametrize("first", [101, -1, 1000])
async def test_users_page_size_outside_0_to_100_is_a_clear_error(api, first):
    tenant = await api.tenant([Role.ADMIN])
    body = await api.raw(USERS_PAGE, {"first": first}, tenant[Role.ADMIN].token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "first must be between 0 and 100"
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": "first"}
    assert error["path"] == ["users"]


async def test_users_page_of_exactly_100_is_allowed(api, services):
    tenant = await api.tenant([Role.ADMIN])
    data = await api.query(USERS_PAGE, {"first": 100}, tenant[Role.ADMIN].token)
    assert [e["node"]["id"] for e in data["users"]["edges"]] == [tenant[Role.ADMIN].gid]


async def test_users_with_an_unreadable_cursor_is_a_clear_error(api):
    tenant = await api.tenant([Role.ADMIN])
    body = await api.raw(USERS_PAGE, {"first": 10, "after": "not-a-cursor"}, tenant[Role.ADMIN].token)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "The cursor is not valid"
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "after"}


async def test_users_filters(api, services):
    tenant = await api.tenant()
    token = tenant[Role.ADMIN].token
    other_group = await add_group(services, tenant.company_id, "Warehouse")
    invited = await create_member(services, tenant.company_id, other_group, Role.CUSTOMER,
                                  email="ingrid.invited@example.com", status=MembershipStatus.INVITED)
    gone = await create_member(services, tenant.company_id, other_group, Role.ORDER_APPROVER,
                               email="dag.deactivated@example.com", status=MembershipStatus.DEACTIVATED,
                               first_name="Dagfinn")
    foreign_id, foreign_group = await create_company(services)
    await create_member(services, foreign_id, foreign_group, Role.CUSTOMER, email="ingrid.elsewhere@example.com")

    async def ids(filter: dict) -> list[str]:
        data = await api.query(USERS_PAGE, {"first": 100, "filter": filter}, token)
        return [e["node"]["id"] for e in data["users"]["edges"]]

    assert await ids({"search": "INGRID"}) == [invited.gid]  # email, case-insensitive, own company only
    assert await ids({"search": "  dagfinn "}) == [gone.gid]  # first name, trimmed
    assert await ids({"search": "Order_approver"}) == [tenant[Role.ORDER_APPROVER].gid, gone.gid]  # last name
    assert await ids({"search": "nobody-has-this"}) == []
    assert await ids({"groupId": to_global_id("Group", other_group)}) == [invited.gid, gone.gid]
    assert await ids({"groupId": tenant.group_gid}) == [m.gid for m in tenant.members.values()]
    assert await ids({"groupId": to_global_id("Group", foreign_group)}) == []  # another company's group
    assert await ids({"groupId": "garbage"}) == []
    assert await ids({"role": "ORDER_APPROVER"}) == [tenant[Role.ORDER_APPROVER].gid, gone.gid]
    assert await ids({"role": "ADMIN"}) == [tenant[Role.ADMIN].gid]
    assert await ids({"status": "INVITED"}) == [invited.gid]
    assert await ids({"status": "DEACTIVATED"}) == [gone.gid]
    assert await ids({"status": "ACTIVE"}) == [m.gid for m in tenant.members.values()]
    assert await ids({"role": "CUSTOMER", "status": "ACTIVE"}) == [tenant[Role.CUSTOMER].gid]
    in_other_group = {"role": "CUSTOMER", "groupId": to_global_id("Group", other_group), "search": "ingrid"}
    assert await ids(in_other_group) == [invited.gid]


async def test_users_search_treats_like_wildcards_literally(api, services):
    """`search` is "part of the email or name": `%` and `_` are characters, not LIKE wildcards."""
    tenant = await api.tenant()
    token = tenant[Role.ADMIN].token

    async def emails(search: str) -> list[str]:
        data = await api.query(USERS_PAGE, {"first": 100, "filter": {"search": search}}, token)
        return [e["node"]["email"] for e in data["users"]["edges"]]

    # Only the order approver has an underscore (in the email and in the last name "Order_Approver").
    assert await emails("_") == [tenant[Role.ORDER_APPROVER].email]
    assert await emails("%") == []


async def test_users_search_ignores_case_of_non_ascii_letters(api, services):
    """Norwegian and Swedish names: "øystein" finds "Øystein" on every database."""
    tenant = await api.tenant([Role.ADMIN])
    oystein = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER, first_name="Øystein",
                                  email="oystein@example.com")
    asa = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER, first_name="åsa",
                              email="asa@example.com")

    async def ids(search: str) -> list[str]:
        data = await api.query(USERS_PAGE, {"first": 100, "filter": {"search": search}}, tenant[Role.ADMIN].token)
        return [e["node"]["id"] for e in data["users"]["edges"]]

    assert await ids("Øystein") == [oystein.gid]
    assert await ids("øystein") == [oystein.gid]
    assert await ids("ØYSTEIN") == [oystein.gid]
    assert await ids("ÅSA") == [asa.gid]


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_users_is_forbidden_without_user_read(api, role):
    tenant = await api.tenant()
    body = await api.raw(USERS_PAGE, {"first": 10}, tenant[role].token)
    assert_forbidden(body)
    assert body["errors"][0]["message"] == "You do not have permission to do this (requires user:read)"


async def test_users_without_a_token_is_unauthenticated(api):
    await api.tenant([Role.ADMIN])
    body = await api.raw(USERS_PAGE, {"first": 10})
    assert error_code(body) == "UNAUTHENTICATED" and body["data"] is None


async def test_user_by_id_for_self_others_and_other_companies(api, services):
    tenant = await api.tenant()
    customer, admin = tenant[Role.CUSTOMER], tenant[Role.ADMIN]
    query = "query($id: ID!) { user(id: $id) { id email role status group { id } } }"

    # Everyone sees themselves.
    for member in tenant.members.values():
        data = await api.query(query, {"id": member.gid}, member.token)
        assert data["user"] == {"id": member.gid, "email": member.email, "role": member.role.name,
                                "status": "ACTIVE", "group": {"id": tenant.group_gid}}
    # A customer may not look at others.
    assert_forbidden(await api.raw(query, {"id": admin.gid}, customer.token))
    assert_forbidden(await api.raw(query, {"id": tenant[Role.MANAGER].gid}, tenant[Role.ORDER_APPROVER].token))
    # An administrator sees everyone in the company.
    assert (await api.query(query, {"id": customer.gid}, admin.token))["user"]["email"] == customer.email

    # Another company's user is null, exactly like an id that does not exist.
    other = await api.tenant([Role.ADMIN])
    foreign = await api.raw(query, {"id": other[Role.ADMIN].gid}, admin.token)
    missing = await api.raw(query, {"id": to_global_id("User", 987654321)}, admin.token)
    wrong_type = await api.raw(query, {"id": tenant.group_gid}, admin.token)
    assert foreign == missing == wrong_type and foreign["data"] == {"user": None} and "errors" not in foreign
    # A customer asking for another company's user gets the same answer as for a colleague.
    assert_forbidden(await api.raw(query, {"id": other[Role.ADMIN].gid}, customer.token))


# --- creating and inviting -------------------------------------------------------------------


async def test_admin_creates_users_of_every_role_and_they_set_a_password(api, services):
    tenant = await api.tenant([Role.ADMIN])
    group_id = await add_group(services, tenant.company_id, "Night shift")
    for role in Role:
        email = f"New.{role.value}@Example.com"
        user = await ok(api, "createUser", {
            "firstName": " Nora ", "lastName": "Nybegynner", "email": email, "groupId": to_global_id("Group", group_id),
            "role": role.name, "paymentMethods": ["INVOICE", "CARD", "INVOICE"],
        }, tenant[Role.ADMIN].token)
        assert user["email"] == email.lower()
        assert (user["firstName"], user["lastName"], user["role"], user["status"]) == (
            "Nora", "Nybegynner", role.name, "ACTIVE")
        assert user["group"] == {"id": to_global_id("Group", group_id), "name": "Night shift"}
        assert user["paymentMethods"] == ["CARD", "INVOICE"]
        assert user["restrictedPermissions"] == []

    # The welcome mail's link sets the password, after which the new user signs in.
    email = "new.customer@example.com"
    token = await emailed_token(services, email, "set-password")
    body = await api.raw(
        'mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { __typename } }',
        {"input": {"token": token, "newPassword": NEW_PASSWORD}},
    )
    assert body["data"]["resetPassword"]["__typename"] == "AcceptedPayload", body
    login = await api.login(email, NEW_PASSWORD)
    assert login["__typename"] == "AuthPayload" and login["companyId"] == tenant.gid


async def test_manager_creates_and_invites_customers_and_approvers_only(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    token = tenant[Role.MANAGER].token
    for role in (Role.CUSTOMER, Role.ORDER_APPROVER):
        created = await ok(api, "createUser", {
            "firstName": "Per", "lastName": "Plukk", "email": f"created-{role.value}@example.com",
            "groupId": tenant.group_gid, "role": role.name,
        }, token)
        assert created["role"] == role.name and created["status"] == "ACTIVE"
        invited = await ok(api, "inviteUser", {
            "email": f"invited-{role.value}@example.com", "groupId": tenant.group_gid, "role": role.name,
        }, token)
        assert invited["role"] == role.name and invited["status"] == "INVITED"

    before = await snapshot(services)
    for role in (Role.ADMIN, Role.MANAGER):
        error = await failed(api, "createUser", {
            "firstName": "Per", "lastName": "Plukk", "email": f"boss-{role.value}@example.com",
            "groupId": tenant.group_gid, "role": role.name,
        }, token)
        assert (error["code"], error["field"]) == ("ROLE_NOT_ALLOWED", "role")
        assert error["message"] == f"You may not give the {role.name} role"
        error = await failed(api, "inviteUser", {
            "email": f"boss-{role.value}@example.com", "groupId": tenant.group_gid, "role": role.name,
        }, token)
        assert (error["code"], error["field"]) == ("ROLE_NOT_ALLOWED", "role")
    assert await snapshot(services) == before


async def test_invitation_of_a_new_person_is_accepted_with_a_name_and_password(api, services):
    tenant = await api.tenant([Role.ADMIN])
    invited = await ok(api, "inviteUser", {"email": "Vera@Example.com", "groupId": tenant.group_gid, "role": "MANAGER"},
                       tenant[Role.ADMIN].token)
    assert (invited["email"], invited["status"], invited["role"], invited["firstName"]) == (
        "vera@example.com", "INVITED", "MANAGER", "")
    # An invited person cannot sign in yet.
    assert (await api.login("vera@example.com", NEW_PASSWORD))["__typename"] == "MutationError"

    token = await emailed_token(services, "vera@example.com", "accept-invitation")
    accepted = await ok(api, "acceptInvitation", {
        "token": token, "firstName": "Vera", "lastName": "Veileder", "password": NEW_PASSWORD}, None)
    assert (accepted["id"], accepted["status"], accepted["firstName"], accepted["lastName"]) == (
        invited["id"], "ACTIVE", "Vera", "Veileder")
    login = await api.login("vera@example.com", NEW_PASSWORD)
    assert login["__typename"] == "AuthPayload" and login["companyId"] == tenant.gid
    # The link is single use.
    again = await failed(api, "acceptInvitation", {
        "token": token, "firstName": "Vera", "lastName": "Veileder", "password": NEW_PASSWORD}, None)
    assert (again["code"], again["field"]) == ("INVALID_TOKEN", "token")


async def test_invitation_of_a_person_with_an_account_needs_their_password(api, services):
    tenant = await api.tenant([Role.ADMIN])
    elsewhere = await api.tenant([Role.CUSTOMER])
    person_email = elsewhere[Role.CUSTOMER].email
    invited = await ok(api, "inviteUser", {"email": person_email, "groupId": tenant.group_gid, "role": "CUSTOMER"},
                       tenant[Role.ADMIN].token)
    assert invited["status"] == "INVITED" and invited["email"] == person_email
    token = await emailed_token(services, person_email, "accept-invitation")

    wrong = await failed(api, "acceptInvitation", {
        "token": token, "firstName": "X", "lastName": "Y", "password": "not-the-password"}, None)
    assert (wrong["code"], wrong["field"]) == ("INVALID_CREDENTIALS", "password")
    # The failed attempt spent nothing: the token still works with the right password.
    accepted = await ok(api, "acceptInvitation", {
        "token": token, "firstName": "Ignored", "lastName": "Ignored", "password": PASSWORD}, None)
    assert accepted["status"] == "ACTIVE" and accepted["firstName"] == "Test"
    login = await api.login(person_email, PASSWORD, company_id=tenant.gid)
    assert login["__typename"] == "AuthPayload" and login["companyId"] == tenant.gid


async def test_create_user_with_an_existing_email_is_email_taken(api, services):
    tenant = await api.tenant([Role.ADMIN])
    other = await api.tenant([Role.CUSTOMER])
    before = await snapshot(services)
    for email in (other[Role.CUSTOMER].email, other[Role.CUSTOMER].email.upper(), tenant[Role.ADMIN].email):
        error = await failed(api, "createUser", {
            "firstName": "A", "lastName": "B", "email": email, "groupId": tenant.group_gid, "role": "CUSTOMER",
        }, tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("EMAIL_TAKEN", "email")
    assert await snapshot(services) == before


async def test_inviting_a_member_again(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    token = tenant[Role.ADMIN].token
    gone = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER,
                               status=MembershipStatus.DEACTIVATED)
    before = await snapshot(services)
    for email in (tenant[Role.CUSTOMER].email, gone.email, tenant[Role.ADMIN].email.upper()):
        error = await failed(api, "inviteUser", {"email": email, "groupId": tenant.group_gid, "role": "CUSTOMER"},
                             token)
        assert (error["code"], error["field"]) == ("ALREADY_MEMBER", "email")
    assert await snapshot(services) == before

    # A pending invitation may be sent again (with a new role); only the latest link works.
    invitation = {"email": "twice@example.com", "groupId": tenant.group_gid}
    first = await ok(api, "inviteUser", {**invitation, "role": "CUSTOMER"}, token)
    old_token = await emailed_token(services, "twice@example.com", "accept-invitation")
    second = await ok(api, "inviteUser", {**invitation, "role": "ORDER_APPROVER"}, token)
    new_token = await emailed_token(services, "twice@example.com", "accept-invitation")
    assert second["id"] == first["id"] and second["role"] == "ORDER_APPROVER" and new_token != old_token
    acceptance = {"firstName": "T", "lastName": "W", "password": NEW_PASSWORD}
    stale = await failed(api, "acceptInvitation", {"token": old_token, **acceptance}, None)
    assert stale["code"] == "INVALID_TOKEN"
    fresh = await ok(api, "acceptInvitation", {"token": new_token, **acceptance}, None)
    assert fresh["status"] == "ACTIVE" and fresh["role"] == "ORDER_APPROVER"


async def test_create_and_invite_into_another_companys_group_is_not_found(api, services):
    tenant = await api.tenant([Role.ADMIN])
    other = await api.tenant([Role.ADMIN])
    before = await snapshot(services)
    for group_id in (other.group_gid, to_global_id("Group", 987654321), tenant.gid, "garbage"):
        error = await failed(api, "createUser", {
            "firstName": "A", "lastName": "B", "email": "someone@example.com", "groupId": group_id, "role": "CUSTOMER",
        }, tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("NOT_FOUND", "groupId")
        error = await failed(api, "inviteUser",
                             {"email": "someone@example.com", "groupId": group_id, "role": "CUSTOMER"},
                             tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("NOT_FOUND", "groupId")
    assert await snapshot(services) == before


async def test_create_user_validates_its_input(api, services):
    tenant = await api.tenant([Role.ADMIN])
    before = await snapshot(services)
    cases = [
        ({"email": "not-an-email"}, "email"),
        ({"firstName": "   "}, "firstName"),
        ({"lastName": "x" * 101}, "lastName"),
    ]
    for override, field in cases:
        values = {"firstName": "A", "lastName": "B", "email": "valid@example.com", "groupId": tenant.group_gid,
                  "role": "CUSTOMER", **override}
        error = await failed(api, "createUser", values, tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert await snapshot(services) == before


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_create_and_invite_are_forbidden_without_user_create(api, services, role):
    tenant = await api.tenant([Role.ADMIN, role])
    before = await snapshot(services)
    assert_forbidden(await mutate(api, "createUser", {
        "firstName": "A", "lastName": "B", "email": "sneaky@example.com", "groupId": tenant.group_gid,
        "role": "CUSTOMER",
    }, tenant[role].token))
    assert_forbidden(await mutate(api, "inviteUser", {
        "email": "sneaky@example.com", "groupId": tenant.group_gid, "role": "ADMIN"}, tenant[role].token))
    assert await snapshot(services) == before


# --- changing ----------------------------------------------------------------------------------


async def test_admin_updates_names_group_and_payment_methods(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    customer = tenant[Role.CUSTOMER]
    group_id = await add_group(services, tenant.company_id, "Kitchen")
    user = await ok(api, "updateUser", {
        "id": customer.gid, "firstName": "  Kari  Anne ", "lastName": "Kokk",
        "groupId": to_global_id("Group", group_id), "paymentMethods": ["INVOICE", "CARD"],
    }, tenant[Role.ADMIN].token)
    assert (user["firstName"], user["lastName"], user["group"]["name"], user["paymentMethods"], user["role"]) == (
        "Kari Anne", "Kokk", "Kitchen", ["CARD", "INVOICE"], "CUSTOMER")
    stored = await membership(services, customer.membership_id)
    assert (stored.group_id, stored.payment_methods) == (group_id, ["card", "invoice"])
    assert ((await person(services, customer.user_id)).first_name) == "Kari Anne"

    # Omitted fields stay as they are; an empty list takes every payment method away.
    user = await ok(api, "updateUser", {"id": customer.gid, "paymentMethods": []}, tenant[Role.ADMIN].token)
    assert (user["firstName"], user["group"]["name"], user["paymentMethods"]) == ("Kari Anne", "Kitchen", [])


async def test_admin_changes_a_role_effective_on_the_next_request(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    customer = tenant[Role.CUSTOMER]
    assert "USER_READ" not in await permissions_of(api, customer.token)
    user = await ok(api, "updateUser", {"id": customer.gid, "role": "MANAGER"}, tenant[Role.ADMIN].token)
    assert user["role"] == "MANAGER"
    assert (await membership(services, customer.membership_id)).role == "manager"
    assert "USER_READ" in await permissions_of(api, customer.token)
    data = await api.query(USERS_PAGE, {"first": 10}, customer.token)
    assert len(data["users"]["edges"]) == 2


async def test_manager_may_not_change_roles_or_privileged_users(api, services):
    tenant = await api.tenant()
    manager = tenant[Role.MANAGER]
    second_manager = await create_member(services, tenant.company_id, tenant.group_id, Role.MANAGER)
    before = await snapshot(services)

    # A role change needs user:assign_role: refused as a whole, the name change included.
    body = await mutate(api, "updateUser",
                        {"id": tenant[Role.CUSTOMER].gid, "firstName": "Changed", "role": "ORDER_APPROVER"},
                        manager.token)
    assert_forbidden(body)
    assert body["errors"][0]["message"] == "You do not have permission to do this (requires user:assign_role)"
    # Administrators and managers are out of a manager's reach.
    for target in (tenant[Role.ADMIN].gid, second_manager.gid):
        error = await failed(api, "updateUser", {"id": target, "firstName": "Changed"}, manager.token)
        assert (error["code"], error["field"]) == ("ROLE_NOT_ALLOWED", "id")
    assert await snapshot(services) == before

    # What a manager may do: customers' and approvers' names, groups and payment methods.
    user = await ok(api, "updateUser", {"id": tenant[Role.ORDER_APPROVER].gid, "lastName": "Godkjenner",
                                        "paymentMethods": ["CARD"]}, manager.token)
    assert (user["lastName"], user["paymentMethods"], user["role"]) == ("Godkjenner", ["CARD"], "ORDER_APPROVER")


async def test_nobody_changes_their_own_role(api, services):
    tenant = await api.tenant([Role.ADMIN])
    second_admin = await create_member(services, tenant.company_id, tenant.group_id, Role.ADMIN)
    await api.token_for(second_admin)
    before = await snapshot(services)
    for admin in (tenant[Role.ADMIN], second_admin):
        error = await failed(api, "updateUser", {"id": admin.gid, "role": "CUSTOMER"}, admin.token)
        assert (error["code"], error["field"]) == ("SELF_ACTION", "role")
    assert await snapshot(services) == before
    # Unchanged role is not a change.
    user = await ok(api, "updateUser", {"id": second_admin.gid, "role": "ADMIN", "lastName": "Same"},
                    second_admin.token)
    assert (user["role"], user["lastName"]) == ("ADMIN", "Same")


async def test_a_demoted_administrator_loses_administration_at_once(api, services):
    tenant = await api.tenant([Role.ADMIN])
    first = tenant[Role.ADMIN]
    second = await create_member(services, tenant.company_id, tenant.group_id, Role.ADMIN)
    await api.token_for(second)
    assert (await ok(api, "updateUser", {"id": second.gid, "role": "MANAGER"}, first.token))["role"] == "MANAGER"
    before = await snapshot(services)
    error = await failed(api, "updateUser", {"id": first.gid, "role": "CUSTOMER"}, second.token)
    assert (error["code"], error["field"]) == ("ROLE_NOT_ALLOWED", "id")
    assert_forbidden(await mutate(api, "deactivateUser", {"id": first.gid}, second.token))
    assert_forbidden(await mutate(api, "restrictUserPermission", {"userId": first.gid, "permission": "USER_READ"},
                                  second.token))
    assert await snapshot(services) == before
    stored = await membership(services, first.membership_id)
    assert (stored.role, stored.status) == ("admin", "active")


async def test_last_admin_rule_holds_for_a_request_that_started_before_a_demotion(api, services):
    """Through the API an administrator is never alone to act on another one, so LAST_ADMIN guards
    the race: a request whose caller was loaded as an administrator just before being demoted (see
    test_concurrency.py for the same through concurrent HTTP requests on PostgreSQL)."""
    tenant = await api.tenant([Role.ADMIN])
    first = tenant[Role.ADMIN]
    second = await create_member(services, tenant.company_id, tenant.group_id, Role.ADMIN)
    await api.token_for(second)
    await ok(api, "updateUser", {"id": second.gid, "role": "MANAGER"}, first.token)
    stale = Actor(user_id=second.user_id, session_id=0, membership_id=second.membership_id,
                  company_id=tenant.company_id, role=Role.ADMIN, restricted=frozenset(), is_operator=False)
    before = await snapshot(services)

    async def attempt(use_case) -> DomainError:
        async with services.db.write_sessions() as session:
            await session.begin()
            ctx = UseCaseContext(services=services, session=session, actor=stale)
            with pytest.raises(DomainError) as raised:
                await use_case(ctx)
            await session.rollback()
        return raised.value

    demote = await attempt(lambda ctx: update_user(ctx, membership_id=first.membership_id, first_name=None,
                                                   last_name=None, group_id=None, role=Role.CUSTOMER,
                                                   payment_methods=None))
    deactivate = await attempt(lambda ctx: set_user_active(ctx, membership_id=first.membership_id, active=False))
    assert (demote.code, demote.field) == (ErrorCode.LAST_ADMIN, "id")
    assert (deactivate.code, deactivate.field) == (ErrorCode.LAST_ADMIN, "id")
    assert await snapshot(services) == before


async def test_names_of_a_person_in_several_companies_are_theirs_to_change(api, services):
    tenant = await api.tenant([Role.ADMIN])
    other = await api.tenant([Role.CUSTOMER])
    shared = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER,
                                 email=other[Role.CUSTOMER].email)
    before = await snapshot(services)
    errors = {}
    for change in ({"firstName": "Renamed"}, {"lastName": "Renamed"}):
        errors[next(iter(change))] = await failed(api, "updateUser", {"id": shared.gid, **change},
                                                  tenant[Role.ADMIN].token)
    assert {error["code"] for error in errors.values()} == {"SHARED_ACCOUNT"}
    assert await snapshot(services) == before
    # The company still decides the person's group and payment methods with it.
    group_id = await add_group(services, tenant.company_id, "Consultants")
    user = await ok(api, "updateUser", {"id": shared.gid, "groupId": to_global_id("Group", group_id),
                                        "paymentMethods": ["INVOICE"]}, tenant[Role.ADMIN].token)
    assert (user["group"]["name"], user["paymentMethods"], user["firstName"]) == ("Consultants", ["INVOICE"], "Test")
    # Each error names the field at fault (not `firstName` for a change of the last name).
    assert {field: error["field"] for field, error in errors.items()} == {
        "firstName": "firstName", "lastName": "lastName"}


async def test_update_user_outside_the_company_is_not_found(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    other = await api.tenant([Role.CUSTOMER])
    before = await snapshot(services)
    for target in (other[Role.CUSTOMER].gid, to_global_id("User", 987654321), tenant.group_gid):
        error = await failed(api, "updateUser", {"id": target, "firstName": "Hacked"}, tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    error = await failed(api, "updateUser", {"id": tenant[Role.CUSTOMER].gid, "groupId": other.group_gid},
                         tenant[Role.ADMIN].token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "groupId")
    assert await snapshot(services) == before


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_update_user_is_forbidden_without_user_update(api, services, role):
    tenant = await api.tenant()
    before = await snapshot(services)
    target = tenant[Role.CUSTOMER if role is Role.ORDER_APPROVER else Role.ORDER_APPROVER]
    assert_forbidden(await mutate(api, "updateUser", {"id": target.gid, "firstName": "X"}, tenant[role].token))
    assert_forbidden(await mutate(api, "updateUser", {"id": tenant[role].gid, "role": "ADMIN"}, tenant[role].token))
    assert await snapshot(services) == before


# --- deactivating ------------------------------------------------------------------------------


async def test_deactivated_user_is_out_on_the_very_next_request_and_back_after_reactivation(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    customer, admin = tenant[Role.CUSTOMER], tenant[Role.ADMIN]
    claims = jwt.decode(customer.token, options={"verify_signature": False})
    assert datetime.fromtimestamp(claims["exp"], UTC) > datetime.now(UTC)
    assert (await api.query("{ me { email } }", token=customer.token))["me"]["email"] == customer.email

    user = await ok(api, "deactivateUser", {"id": customer.gid}, admin.token)
    assert user["status"] == "DEACTIVATED"
    body = await api.raw("{ me { email } }", token=customer.token)
    assert error_code(body) == "UNAUTHENTICATED" and body["data"] is None
    assert (await api.login(customer.email))["__typename"] == "MutationError"

    user = await ok(api, "reactivateUser", {"id": customer.gid}, admin.token)
    assert user["status"] == "ACTIVE"
    assert (await api.query("{ me { email } }", token=customer.token))["me"]["email"] == customer.email
    assert (await api.login(customer.email))["__typename"] == "AuthPayload"


async def test_deactivation_rules(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin = tenant[Role.ADMIN]
    other = await api.tenant([Role.CUSTOMER])
    before = await snapshot(services)
    error = await failed(api, "deactivateUser", {"id": admin.gid}, admin.token)
    assert (error["code"], error["field"]) == ("SELF_ACTION", "id")
    error = await failed(api, "reactivateUser", {"id": tenant[Role.CUSTOMER].gid}, admin.token)
    assert (error["code"], error["message"]) == ("INVALID_STATE", "The user is not deactivated")
    error = await failed(api, "deactivateUser", {"id": other[Role.CUSTOMER].gid}, admin.token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    assert await snapshot(services) == before

    await ok(api, "deactivateUser", {"id": tenant[Role.CUSTOMER].gid}, admin.token)
    before = await snapshot(services)
    error = await failed(api, "deactivateUser", {"id": tenant[Role.CUSTOMER].gid}, admin.token)
    assert (error["code"], error["message"]) == ("INVALID_STATE", "The user is already deactivated")
    assert await snapshot(services) == before
    # The other company's user was not touched by any of this.
    assert (await membership(services, other[Role.CUSTOMER].membership_id)).status == "active"


async def test_a_withdrawn_invitation_does_not_become_a_membership_without_acceptance(api, services):
    """Deactivating an invited user withdraws the invitation; reactivating must not make the person
    an active member of a company they never agreed to join."""
    company = await api.tenant([Role.ADMIN])
    elsewhere = await api.tenant([Role.CUSTOMER])
    person = elsewhere[Role.CUSTOMER]
    admin = company[Role.ADMIN].token
    invited = await ok(api, "inviteUser", {"email": person.email, "groupId": company.group_gid, "role": "ADMIN"}, admin)
    link = await emailed_token(services, person.email, "accept-invitation")
    await mutate(api, "deactivateUser", {"id": invited["id"]}, admin)
    withdrawn = await failed(api, "acceptInvitation",
                             {"token": link, "firstName": "A", "lastName": "B", "password": PASSWORD}, None)
    assert withdrawn["code"] == "INVALID_TOKEN"

    body = await mutate(api, "reactivateUser", {"id": invited["id"]}, admin)
    result = body["data"]["reactivateUser"]
    assert result.get("code") == "INVALID_STATE" or result.get("user", {}).get("status") == "INVITED", result
    stored = await membership(services, decode_id(invited["id"], "User"))
    assert stored.status != MembershipStatus.ACTIVE.value
    assert (await api.login(person.email, PASSWORD, company_id=company.gid))["__typename"] == "MutationError"
    companies = await api.query("{ me { companies { company { id } } } }", token=person.token)
    assert [c["company"]["id"] for c in companies["me"]["companies"]] == [elsewhere.gid]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_deactivation_is_forbidden_without_user_deactivate(api, services, role):
    tenant = await api.tenant()
    target = tenant[Role.CUSTOMER if role is not Role.CUSTOMER else Role.ORDER_APPROVER]
    before = await snapshot(services)
    assert_forbidden(await mutate(api, "deactivateUser", {"id": target.gid}, tenant[role].token))
    assert await snapshot(services) == before
    await ok(api, "deactivateUser", {"id": target.gid}, tenant[Role.ADMIN].token)
    before = await snapshot(services)
    assert_forbidden(await mutate(api, "reactivateUser", {"id": target.gid}, tenant[role].token))
    assert await snapshot(services) == before


# --- restricting permissions -----------------------------------------------------------------


async def test_restricting_user_read_applies_to_the_next_request_and_restoring_gives_it_back(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    admin, manager = tenant[Role.ADMIN], tenant[Role.MANAGER]
    assert "USER_READ" in await permissions_of(api, manager.token)
    await api.query(USERS_PAGE, {"first": 10}, manager.token)

    user = await ok(api, "restrictUserPermission", {"userId": manager.gid, "permission": "USER_READ"}, admin.token)
    assert user["restrictedPermissions"] == ["USER_READ"]
    body = await api.raw(USERS_PAGE, {"first": 10}, manager.token)
    assert_forbidden(body)
    assert body["errors"][0]["message"] == "You do not have permission to do this (requires user:read)"
    permissions = await permissions_of(api, manager.token)
    assert "USER_READ" not in permissions and "USER_CREATE" in permissions
    # They still see themselves.
    me = await api.query("query($id: ID!) { user(id: $id) { restrictedPermissions } }", {"id": manager.gid},
                         manager.token)
    assert me["user"]["restrictedPermissions"] == ["USER_READ"]

    # Restricting twice changes nothing.
    again = await ok(api, "restrictUserPermission", {"userId": manager.gid, "permission": "USER_READ"}, admin.token)
    assert again["restrictedPermissions"] == ["USER_READ"]
    async with services.db.read_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(PermissionRestriction))
    assert count == 1

    user = await ok(api, "restoreUserPermission", {"userId": manager.gid, "permission": "USER_READ"}, admin.token)
    assert user["restrictedPermissions"] == []
    assert "USER_READ" in await permissions_of(api, manager.token)
    assert len((await api.query(USERS_PAGE, {"first": 10}, manager.token))["users"]["edges"]) == 2


async def test_a_restriction_made_through_one_server_applies_at_once_in_another(api, services, database_url):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    admin, manager = tenant[Role.ADMIN], tenant[Role.MANAGER]
    second_app = create_app(make_test_settings(database_url))
    try:
        transport = httpx.ASGITransport(app=second_app, client=("198.51.100.9", 41000))
        async with httpx.AsyncClient(transport=transport, base_url="http://second") as http:
            api_b = Api(http, second_app.state.services)
            assert len((await api_b.query(USERS_PAGE, {"first": 10}, manager.token))["users"]["edges"]) == 2

            await ok(api, "restrictUserPermission", {"userId": manager.gid, "permission": "USER_READ"}, admin.token)
            assert_forbidden(await api_b.raw(USERS_PAGE, {"first": 10}, manager.token))
            assert "USER_READ" not in await permissions_of(api_b, manager.token)

            await ok(api, "restoreUserPermission", {"userId": manager.gid, "permission": "USER_READ"}, admin.token)
            assert len((await api_b.query(USERS_PAGE, {"first": 10}, manager.token))["users"]["edges"]) == 2
            assert "USER_READ" in await permissions_of(api_b, manager.token)

            # And the other way round: a deactivation through the second server locks out on the first.
            await ok(api_b, "deactivateUser", {"id": manager.gid}, admin.token)
            assert error_code(await api.raw("{ me { email } }", token=manager.token)) == "UNAUTHENTICATED"
    finally:
        await second_app.state.services.mailer.drain()
        await second_app.state.services.db.dispose()


async def test_restriction_rules(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    admin = tenant[Role.ADMIN]
    other = await api.tenant([Role.MANAGER])
    before = await snapshot(services)
    error = await failed(api, "restrictUserPermission", {"userId": admin.gid, "permission": "USER_READ"}, admin.token)
    assert (error["code"], error["field"]) == ("SELF_ACTION", "userId")
    not_found = [await failed(api, name, {"userId": other[Role.MANAGER].gid, "permission": "USER_READ"}, admin.token)
                 for name in ("restrictUserPermission", "restoreUserPermission")]
    assert [error["code"] for error in not_found] == ["NOT_FOUND", "NOT_FOUND"]
    assert await snapshot(services) == before
    # The error names the input's field: UserPermissionInput has `userId`, no `id`.
    assert [error["field"] for error in not_found] == ["userId", "userId"]


async def test_an_administrator_cannot_lift_a_restriction_placed_on_them(api, services):
    """Restricting oneself is refused (SELF_ACTION); so is restoring oneself, or a restriction one
    administrator puts on another would be undone by its target."""
    tenant = await api.tenant([Role.ADMIN])
    first = tenant[Role.ADMIN]
    second = await create_member(services, tenant.company_id, tenant.group_id, Role.ADMIN)
    await api.token_for(second)
    await ok(api, "restrictUserPermission", {"userId": second.gid, "permission": "ORDER_APPROVE"}, first.token)
    before = await snapshot(services)
    error = await failed(api, "restoreUserPermission", {"userId": second.gid, "permission": "ORDER_APPROVE"},
                         second.token)
    assert (error["code"], error["field"]) == ("SELF_ACTION", "userId")
    assert await snapshot(services) == before
    assert "ORDER_APPROVE" not in await permissions_of(api, second.token)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_restricting_is_forbidden_to_non_admins(api, services, role):
    tenant = await api.tenant()
    target = tenant[Role.CUSTOMER if role is not Role.CUSTOMER else Role.ORDER_APPROVER]
    await ok(api, "restrictUserPermission", {"userId": target.gid, "permission": "ORDER_CREATE"},
             tenant[Role.ADMIN].token)
    before = await snapshot(services)
    assert_forbidden(await mutate(api, "restrictUserPermission", {"userId": target.gid, "permission": "COMPANY_READ"},
                                  tenant[role].token))
    assert_forbidden(await mutate(api, "restoreUserPermission", {"userId": target.gid, "permission": "ORDER_CREATE"},
                                  tenant[role].token))
    assert await snapshot(services) == before
