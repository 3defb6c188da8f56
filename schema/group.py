"""Groups: types, queries and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import Group as GroupModel
from resolvers import group as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Connection, Node, connection, decode_id, from_cursor, to_global_id


@strawberry.type(description="A group of users within the company (a department, a unit, a team).")
class Group(Node):
    name: str = strawberry.field(description="Name, unique within the company.")
    member_count: int | None = strawberry.field(description="Number of users in the group (all statuses).")
    created_at: datetime = strawberry.field(description="When the group was created (UTC).")

    @classmethod
    def from_model(cls, group: GroupModel, member_count: int | None = None) -> Group:
        return cls(id=to_global_id("Group", group.id), name=group.name, member_count=member_count,
                   created_at=group.created_at)


@strawberry.input(description="A new group.")
class CreateGroupInput:
    name: str = strawberry.field(description="Name, unique within the company.")


@strawberry.input(description="A new name for a group.")
class RenameGroupInput:
    id: strawberry.ID = strawberry.field(description="The group.")
    name: str = strawberry.field(description="New name, unique within the company.")


@strawberry.input(description="A group to delete; it must have no members.")
class DeleteGroupInput:
    id: strawberry.ID = strawberry.field(description="The group.")


@strawberry.type(description="The group after the change.")
class GroupPayload:
    group: Group = strawberry.field(description="The group.")


@strawberry.type(description="The group was deleted.")
class DeleteGroupPayload:
    deleted_id: strawberry.ID = strawberry.field(description="Global id of the deleted group.")


GroupResult = Annotated[
    GroupPayload | MutationError, strawberry.union("GroupResult", description="Result of a group change.")
]
DeleteGroupResult = Annotated[
    DeleteGroupPayload | MutationError, strawberry.union("DeleteGroupResult", description="Result of deleteGroup.")
]


def _group_id(value: str) -> int:
    return decode_id(value, "Group") or 0


async def _with_count(ctx, group: GroupModel) -> Group:
    counts = await use_cases.member_counts(ctx, [group.id])
    return Group.from_model(group, counts.get(group.id, 0))


@strawberry.type
class GroupQuery:
    @strawberry.field(
        description="The company's groups, by creation. Requires `group:read` (administrators, managers).")
    async def groups(
        self, info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[Group]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_groups(ctx, first=first, after=from_cursor(after))
            counts = await use_cases.member_counts(ctx, [g.id for g in page.items])
        return connection(page, lambda g: Group.from_model(g, counts.get(g.id, 0)))

    @strawberry.field(description="One group of the company, or null. Requires `group:read`.")
    async def group(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Global id.")],
    ) -> Group | None:
        async with info.context.reading() as ctx:
            group = await use_cases.get_group(ctx, _group_id(id))
            return await _with_count(ctx, group) if group else None


@strawberry.type
class GroupMutation:
    @strawberry.mutation(description="Create a group. Requires `group:manage` (administrators, managers).")
    async def create_group(self, info: strawberry.Info, input: Annotated[CreateGroupInput, INPUT]) -> GroupResult:
        async def use_case(ctx):
            return Group.from_model(await use_cases.create_group(ctx, name=input.name), 0)
        return await run_mutation(info, use_case, lambda group: GroupPayload(group=group))

    @strawberry.mutation(description="Rename a group. Requires `group:manage`.")
    async def rename_group(self, info: strawberry.Info, input: Annotated[RenameGroupInput, INPUT]) -> GroupResult:
        async def use_case(ctx):
            renamed = await use_cases.rename_group(ctx, group_id=_group_id(input.id), name=input.name)
            return await _with_count(ctx, renamed)
        return await run_mutation(info, use_case, lambda group: GroupPayload(group=group))

    @strawberry.mutation(description="Delete an empty group (refused while it has members). Requires `group:manage`.")
    async def delete_group(self, info: strawberry.Info, input: Annotated[DeleteGroupInput, INPUT]) -> DeleteGroupResult:
        return await run_mutation(
            info, lambda ctx: use_cases.delete_group(ctx, group_id=_group_id(input.id)),
            lambda pk: DeleteGroupPayload(deleted_id=to_global_id("Group", pk)),
        )
