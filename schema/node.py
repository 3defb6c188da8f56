"""`node(id:)`: fetch any object by its global id, scoped like every other query."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import company as company_use_cases
from resolvers import group as group_use_cases
from resolvers import user as user_use_cases
from schema.company import Company
from schema.group import Group
from schema.relay import Node, parse_global_id
from schema.user import User


async def _company(ctx, pk: int):
    company = await company_use_cases.current_company(ctx)
    return Company.from_model(company) if company.id == pk else None


async def _group(ctx, pk: int):
    group = await group_use_cases.get_group(ctx, pk)
    return Group.from_model(group, (await group_use_cases.member_counts(ctx, [pk])).get(pk, 0)) if group else None


async def _user(ctx, pk: int):
    member = await user_use_cases.get_user(ctx, pk)
    return User.from_model(member) if member else None


NODE_FETCHERS = {"Company": _company, "Group": _group, "User": _user}


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by global id, or null when it does not exist or is not yours to see. Same permissions as the object's own query.")
    async def node(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Global id.")]) -> Node | None:
        parsed = parse_global_id(id)
        fetch = NODE_FETCHERS.get(parsed[0]) if parsed else None
        async with info.context.reading() as ctx:
            ctx.require_signed_in()
            return await fetch(ctx, parsed[1]) if fetch else None
