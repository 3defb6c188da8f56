"""The signed-in person (`me`) and the companies they can act for."""

from __future__ import annotations

import strawberry

from models import User as UserModel
from resolvers import viewer as use_cases
from schema.company import Company
from schema.permissions import Permission, Role, from_domain_permission
from schema.relay import Node, to_global_id
from schema.user import User


@strawberry.type(description=(
    "A person: one sign-in (email and password) that may belong to several companies, as a User in each. "
    "`node(id:)` fetches yourself, and, with `user:read`, the people of your company."))
class Person(Node):
    email: str = strawberry.field(description="Sign-in email address.")
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")

    @classmethod
    def from_model(cls, user: UserModel) -> Person:
        return cls(id=to_global_id("Person", user.id), email=user.email, first_name=user.first_name,
                   last_name=user.last_name)


@strawberry.type(description="A company the signed-in person belongs to.")
class CompanyAccess:
    company: Company = strawberry.field(description="The company.")
    role: Role = strawberry.field(description="The person's role there.")


@strawberry.type(description="The signed-in person and what they may do now.")
class Viewer:
    person_id: strawberry.ID = strawberry.field(
        description="Global id of the Person signed in (the same in every company); `node(id:)` fetches it.")
    email: str = strawberry.field(description="Sign-in email address.")
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    is_operator: bool = strawberry.field(description="Whether the person is a platform operator (supplier staff).")
    user: User | None = strawberry.field(
        description="The person as a user of the current company; null for an operator outside companies.")
    company: Company | None = strawberry.field(description="The company the token acts for.")
    companies: list[CompanyAccess] = strawberry.field(
        description="Every company the person may switch to (`switchCompany`).")
    permissions: list[Permission] = strawberry.field(
        description="The caller's effective permissions in the current company.")


@strawberry.type
class ViewerQuery:
    @strawberry.field(description="The signed-in person. Requires a valid access token.")
    async def me(self, info: strawberry.Info) -> Viewer:
        async with info.context.reading() as ctx:
            viewer = await use_cases.me(ctx)
        return Viewer(
            person_id=to_global_id("Person", viewer.user.id), email=viewer.user.email,
            first_name=viewer.user.first_name, last_name=viewer.user.last_name, is_operator=viewer.is_operator,
            user=User.from_model(viewer.membership) if viewer.membership else None,
            company=Company.from_model(viewer.company) if viewer.company else None,
            companies=[CompanyAccess(company=Company.from_model(c), role=Role(role)) for c, role in viewer.companies],
            permissions=[from_domain_permission(p) for p in viewer.permissions],
        )
