"""Groups end to end through the ASGI app: listing with member counts, creating, renaming,
deleting (only when empty), moving users; tenant isolation and permissions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Group, MembershipStatus, Role
from schema.relay import decode_id, to_global_id
from tests import helpers
from tests.factories import Api, create_member
from tests.helpers import assert_forbidden, snapshot

GROUP_RESULT = ("__typename ... on GroupPayload { group { id name memberCount } } "
                "... on MutationError { code message field }")
MUTATIONS = {
    "createGroup": ("CreateGroupInput", GROUP_RESULT),
    "renameGroup": ("RenameGroupInput", GROUP_RESULT),
    "deleteGroup": ("DeleteGroupInput",
                    "__typename ... on DeleteGroupPayload { deletedId } ... on MutationError { code message field }"),
    "moveUsersToGroup": ("MoveUsersToGroupInput",
                         "__typename ... on MoveUsersToGroupPayload { users { id group { id name } } }"
                         " ... on MutationError { code message field }"),
}
GROUPS_PAGE = """query($first: Int!, $after: String) { groups(first: $first, after: $after) {
  edges { cursor node { id name memberCount } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
GROUP = "query($id: ID!) { group(id: $id) { id name memberCount } }"


async def mutate(api: Api, name: str, input: dict, token: str) -> dict:
    input_type, selection = MUTATIONS[name]
    return await api.mutate(name, input_type, selection, input, token)


async def ok(api: Api, name: str, input: dict, token: str) -> dict:
    return helpers.succeeded(await mutate(api, name, input, token), name)


async def failed(api: Api, name: str, input: dict, token: str) -> dict:
    return helpers.failed(await mutate(api, name, input, token), name)


async def group_names(services, company_id: int) -> list[str]:
    async with services.db.read_sessions() as session:
        names = select(Group.name).where(Group.company_id == company_id).order_by(Group.id)
        return list((await session.scalars(names)).all())


async def test_create_group_with_case_insensitive_unique_names(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    created = (await ok(api, "createGroup", {"name": "  Home   care  north "}, tenant[Role.ADMIN].token))["group"]
    assert (created["name"], created["memberCount"]) == ("Home care north", 0)
    assert created["id"] == to_global_id("Group", (await _id_of(services, tenant.company_id, "Home care north")))
    # Managers hold group:manage too.
    assert (await ok(api, "createGroup", {"name": "Kitchen"}, tenant[Role.MANAGER].token))["group"]["name"] == "Kitchen"

    before = await snapshot(services)
    for name in ("home care NORTH", "HOME CARE   NORTH", "default", "kitchen"):
        error = await failed(api, "createGroup", {"name": name}, tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("GROUP_NAME_TAKEN", "name")
    for name in ("", "   ", "x" * 101):
        error = await failed(api, "createGroup", {"name": name}, tenant[Role.ADMIN].token)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "name")
    assert await snapshot(services) == before
    assert await group_names(services, tenant.company_id) == ["Default", "Home care north", "Kitchen"]

    # Names are unique per company only.
    other = await api.tenant([Role.ADMIN])
    assert (await ok(api, "createGroup", {"name": "Kitchen"}, other[Role.ADMIN].token))["group"]["name"] == "Kitchen"


async def test_group_names_ignore_case_of_non_ascii_letters(api, services):
    """"Økonomi" and "ØKONOMI" are one name on every database (SQLite's own lower() folds ASCII only)."""
    tenant = await api.tenant([Role.ADMIN])
    token = tenant[Role.ADMIN].token
    await ok(api, "createGroup", {"name": "Økonomi"}, token)
    await ok(api, "createGroup", {"name": "Ärende"}, token)
    before = await snapshot(services)
    for name in ("ØKONOMI", "økonomi", "ärende"):
        error = await failed(api, "createGroup", {"name": name}, token)
        assert (error["code"], error["field"]) == ("GROUP_NAME_TAKEN", "name")
    assert await snapshot(services) == before


async def _id_of(services, company_id: int, name: str) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(Group.id).where(Group.company_id == company_id, Group.name == name))


async def test_rename_group(api, services):
    tenant = await api.tenant([Role.ADMIN])
    token = tenant[Role.ADMIN].token
    sales = (await ok(api, "createGroup", {"name": "Sales"}, token))["group"]
    renamed = (await ok(api, "renameGroup", {"id": sales["id"], "name": "Purchasing"}, token))["group"]
    assert renamed == {"id": sales["id"], "name": "Purchasing", "memberCount": 0}
    # A group may take its own name in another case.
    recased = (await ok(api, "renameGroup", {"id": sales["id"], "name": "PURCHASING"}, token))["group"]
    assert recased["name"] == "PURCHASING"
    # The default group keeps its members while renamed, and reports them.
    default = (await ok(api, "renameGroup", {"id": tenant.group_gid, "name": "Everyone"}, token))["group"]
    assert default == {"id": tenant.group_gid, "name": "Everyone", "memberCount": 1}

    before = await snapshot(services)
    error = await failed(api, "renameGroup", {"id": sales["id"], "name": "everyone"}, token)
    assert (error["code"], error["field"]) == ("GROUP_NAME_TAKEN", "name")
    error = await failed(api, "renameGroup", {"id": sales["id"], "name": " "}, token)
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "name")
    assert await snapshot(services) == before
    assert await group_names(services, tenant.company_id) == ["Everyone", "PURCHASING"]


async def test_delete_group_is_refused_while_it_has_members_then_allowed_after_moving_them(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER])
    token = tenant[Role.ADMIN].token
    invited = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER,
                                  status=MembershipStatus.INVITED)
    gone = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER,
                               status=MembershipStatus.DEACTIVATED)
    members = [m.gid for m in tenant.members.values()] + [invited.gid, gone.gid]
    assert (await api.query(GROUP, {"id": tenant.group_gid}, token))["group"]["memberCount"] == 6

    before = await snapshot(services)
    error = await failed(api, "deleteGroup", {"id": tenant.group_gid}, token)
    assert (error["code"], error["field"]) == ("GROUP_NOT_EMPTY", "id")
    assert error["message"] == "The group still has 6 member(s); move them first"
    assert await snapshot(services) == before

    target = (await ok(api, "createGroup", {"name": "Everyone"}, token))["group"]
    moved = await ok(api, "moveUsersToGroup", {"userIds": members[:3], "groupId": target["id"]}, token)
    assert [u["id"] for u in moved["users"]] == members[:3]
    assert {u["group"]["name"] for u in moved["users"]} == {"Everyone"}
    error = await failed(api, "deleteGroup", {"id": tenant.group_gid}, token)
    assert error["message"] == "The group still has 3 member(s); move them first"

    # Moving the same user twice in one call is one move.
    moved = await ok(api, "moveUsersToGroup", {"userIds": members[3:] + members[3:4], "groupId": target["id"]}, token)
    assert [u["id"] for u in moved["users"]] == members[3:]
    page = (await api.query(GROUPS_PAGE, {"first": 10}, token))["groups"]["edges"]
    assert [(e["node"]["name"], e["node"]["memberCount"]) for e in page] == [("Default", 0), ("Everyone", 6)]

    deleted = await ok(api, "deleteGroup", {"id": tenant.group_gid}, token)
    assert deleted == {"__typename": "DeleteGroupPayload", "deletedId": tenant.group_gid}
    assert (await api.query(GROUP, {"id": tenant.group_gid}, token)) == {"group": None}
    assert await group_names(services, tenant.company_id) == ["Everyone"]
    error = await failed(api, "deleteGroup", {"id": tenant.group_gid}, token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")


async def test_groups_are_paged_with_member_counts(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    token = tenant[Role.MANAGER].token
    names = ["Default"]
    for n in range(4):
        group = (await ok(api, "createGroup", {"name": f"Team {n}"}, token))["group"]
        names.append(group["name"])
        for _ in range(n):
            await create_member(services, tenant.company_id, int(_pk(group["id"])), Role.CUSTOMER)
    first = (await api.query(GROUPS_PAGE, {"first": 3}, token))["groups"]
    assert [(e["node"]["name"], e["node"]["memberCount"]) for e in first["edges"]] == [
        ("Default", 2), ("Team 0", 0), ("Team 1", 1)]
    assert first["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                 "endCursor": first["edges"][-1]["cursor"]}
    rest = (await api.query(GROUPS_PAGE, {"first": 3, "after": first["pageInfo"]["endCursor"]}, token))["groups"]
    assert [(e["node"]["name"], e["node"]["memberCount"]) for e in rest["edges"]] == [("Team 2", 2), ("Team 3", 3)]
    assert rest["pageInfo"]["hasNextPage"] is False and rest["pageInfo"]["hasPreviousPage"] is True
    body = await api.raw(GROUPS_PAGE, {"first": 101}, token)
    assert body["data"] is None and body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "first"}


def _pk(global_id: str) -> int:
    return decode_id(global_id, "Group")


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_groups_are_forbidden_without_group_permissions(api, services, role):
    tenant = await api.tenant()
    token = tenant[role].token
    spare = (await ok(api, "createGroup", {"name": "Spare"}, tenant[Role.ADMIN].token))["group"]
    before = await snapshot(services)
    body = await api.raw(GROUPS_PAGE, {"first": 10}, token)
    assert_forbidden(body)
    assert body["errors"][0]["message"] == "You do not have permission to do this (requires group:read)"
    assert_forbidden(await api.raw(GROUP, {"id": tenant.group_gid}, token))
    assert_forbidden(await mutate(api, "createGroup", {"name": "Mine"}, token))
    assert_forbidden(await mutate(api, "renameGroup", {"id": spare["id"], "name": "Mine"}, token))
    assert_forbidden(await mutate(api, "deleteGroup", {"id": spare["id"]}, token))
    assert_forbidden(await mutate(api, "moveUsersToGroup", {"userIds": [tenant[role].gid], "groupId": spare["id"]},
                                  token))
    assert await snapshot(services) == before


async def test_groups_of_another_company_are_not_found(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    other = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    token = tenant[Role.ADMIN].token
    before = await snapshot(services)
    foreign = await api.raw(GROUP, {"id": other.group_gid}, token)
    missing = await api.raw(GROUP, {"id": to_global_id("Group", 987654321)}, token)
    assert foreign == missing and foreign["data"] == {"group": None} and "errors" not in foreign
    page = (await api.query(GROUPS_PAGE, {"first": 100}, token))["groups"]["edges"]
    assert [e["node"]["id"] for e in page] == [tenant.group_gid]

    error = await failed(api, "renameGroup", {"id": other.group_gid, "name": "Taken over"}, token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    error = await failed(api, "deleteGroup", {"id": other.group_gid}, token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    error = await failed(api, "moveUsersToGroup", {"userIds": [tenant[Role.CUSTOMER].gid], "groupId": other.group_gid},
                         token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "groupId")
    error = await failed(api, "moveUsersToGroup", {"userIds": [tenant[Role.CUSTOMER].gid, other[Role.CUSTOMER].gid],
                                                    "groupId": tenant.group_gid}, token)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "userIds")
    assert await snapshot(services) == before


async def test_moving_users(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER])
    manager = tenant[Role.MANAGER]
    target = (await ok(api, "createGroup", {"name": "Night"}, manager.token))["group"]
    before = await snapshot(services)
    # A manager may not move administrators or managers, and one refusal moves nobody.
    refused = [await failed(api, "moveUsersToGroup", {"userIds": [tenant[Role.CUSTOMER].gid, privileged],
                                                      "groupId": target["id"]}, manager.token)
               for privileged in (tenant[Role.ADMIN].gid, manager.gid)]
    assert [error["code"] for error in refused] == ["ROLE_NOT_ALLOWED", "ROLE_NOT_ALLOWED"]
    error = await failed(api, "moveUsersToGroup",
                         {"userIds": [tenant[Role.CUSTOMER].gid] * 101, "groupId": target["id"]}, manager.token)
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "userIds")
    assert await snapshot(services) == before

    moved = await ok(api, "moveUsersToGroup", {"userIds": [tenant[Role.CUSTOMER].gid, tenant[Role.ORDER_APPROVER].gid],
                                                "groupId": target["id"]}, manager.token)
    assert [u["group"]["id"] for u in moved["users"]] == [target["id"]] * 2
    users = await api.query("query($f: UserFilter) { users(filter: $f) { edges { node { id } } } }",
                            {"f": {"groupId": target["id"]}}, manager.token)
    assert [e["node"]["id"] for e in users["users"]["edges"]] == [
        tenant[Role.CUSTOMER].gid, tenant[Role.ORDER_APPROVER].gid]
    assert (await api.query(GROUP, {"id": target["id"]}, manager.token))["group"]["memberCount"] == 2
    # An administrator moves anyone.
    moved = await ok(api, "moveUsersToGroup",
                     {"userIds": [tenant[Role.ADMIN].gid, manager.gid], "groupId": target["id"]},
                     tenant[Role.ADMIN].token)
    assert len(moved["users"]) == 2
    assert (await api.query(GROUP, {"id": tenant.group_gid}, manager.token))["group"]["memberCount"] == 0
    # The refusals named the input's field: MoveUsersToGroupInput has `userIds`, no `id`.
    assert [error["field"] for error in refused] == ["userIds", "userIds"]
