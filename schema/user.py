"""Users (a person's membership in the company): types, queries and mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models import Membership
from models.errors import DomainError, ErrorCode
from models.user import MembershipStatus
from models.user import PaymentMethod as DomainPaymentMethod
from policies.permissions import Permission as DomainPermission
from resolvers import permission as permission_use_cases
from resolvers import user as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.group import Group
from schema.permissions import Permission, Role, from_domain_permission, to_domain_permission, to_domain_role
from schema.relay import Connection, Node, connection, decode_id, from_cursor, optional_id, to_global_id


@strawberry.enum(description="Where a user stands in the company.")
class UserStatus(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    INVITED = strawberry.enum_value("invited", description="Invited; has not accepted yet.")
    ACTIVE = strawberry.enum_value("active", description="May sign in and act for the company.")
    DEACTIVATED = strawberry.enum_value("deactivated", description="Blocked from the company from the next request on.")


@strawberry.enum(description="How a user may pay.")
class PaymentMethod(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    CARD = strawberry.enum_value("card", description="Payment card.")
    INVOICE = strawberry.enum_value("invoice", description="Invoice (once the company's application is approved).")


@strawberry.type(description="A user of the company: a person with a role, a group and rights in it.")
class User(Node):
    email: str = strawberry.field(description="Sign-in email address.")
    first_name: str = strawberry.field(description="First name (empty until an invitation is accepted).")
    last_name: str = strawberry.field(description="Last name.")
    role: Role = strawberry.field(description="Role in this company.")
    status: UserStatus = strawberry.field(description="Invited, active or deactivated.")
    group: Group = strawberry.field(description="The user's group.")
    payment_methods: list[PaymentMethod] = strawberry.field(description="Payment methods the user may use.")
    restricted_permissions: list[Permission] = strawberry.field(
        description="Permissions of the role that an administrator has taken away from this user."
    )
    created_at: datetime = strawberry.field(description="When the user was added to the company (UTC).")

    @classmethod
    def from_model(cls, member: Membership) -> User:
        return cls(
            id=to_global_id("User", member.id), email=member.user.email, first_name=member.user.first_name,
            last_name=member.user.last_name, role=Role(member.role), status=UserStatus(member.status),
            group=Group.from_model(member.group), payment_methods=[PaymentMethod(m) for m in member.payment_methods],
            restricted_permissions=[from_domain_permission(DomainPermission(r.permission))
                                    for r in member.restrictions],
            created_at=member.created_at,
        )


@strawberry.input(description="Which users to list; all conditions must hold.")
class UserFilter:
    search: str | None = strawberry.field(default=None, description="Part of the email or name.")
    group_id: strawberry.ID | None = strawberry.field(default=None, description="Only this group's users.")
    role: Role | None = strawberry.field(default=None, description="Only users with this role.")
    status: UserStatus | None = strawberry.field(default=None, description="Only users with this status.")


@strawberry.input(description="An invitation by email; the invitee completes their registration.")
class InviteUserInput:
    email: str = strawberry.field(description="Email address to invite.")
    group_id: strawberry.ID = strawberry.field(description="The group the user will belong to.")
    role: Role = strawberry.field(description="Role; administrator, manager and accountant need `user:assign_role`.")


@strawberry.input(description="Completing an invitation.")
class AcceptInvitationInput:
    token: str = strawberry.field(description="The token from the invitation link.")
    first_name: str = strawberry.field(description="First name (ignored for an existing account).")
    last_name: str = strawberry.field(description="Last name (ignored for an existing account).")
    password: str = strawberry.field(description="New password, or the existing account's password.")


@strawberry.input(description="A user created directly; they get an email to set their password.")
class CreateUserInput:
    first_name: str = strawberry.field(description="First name.")
    last_name: str = strawberry.field(description="Last name.")
    email: str = strawberry.field(description="Email address; must not have an account yet (invite existing people).")
    group_id: strawberry.ID = strawberry.field(description="The user's group.")
    role: Role = strawberry.field(description="Role; administrator, manager and accountant need `user:assign_role`.")
    payment_methods: list[PaymentMethod] = strawberry.field(
        default_factory=list, description="Approved payment methods.")


@strawberry.input(description="Changes to a user; omitted fields stay as they are.")
class UpdateUserInput:
    id: strawberry.ID = strawberry.field(description="The user.")
    first_name: str | None = strawberry.field(default=None, description="First name.")
    last_name: str | None = strawberry.field(default=None, description="Last name.")
    group_id: strawberry.ID | None = strawberry.field(default=None, description="Move to this group.")
    role: Role | None = strawberry.field(default=None, description="New role; needs `user:assign_role`.")
    payment_methods: list[PaymentMethod] | None = strawberry.field(
        default=None, description="Approved payment methods.")


@strawberry.input(description="A user to deactivate or reactivate.")
class UserIdInput:
    id: strawberry.ID = strawberry.field(description="The user.")


@strawberry.input(description="Users to move into a group.")
class MoveUsersToGroupInput:
    user_ids: list[strawberry.ID] = strawberry.field(description="The users (at most 100).")
    group_id: strawberry.ID = strawberry.field(description="The target group.")


@strawberry.input(description="One permission of one user.")
class UserPermissionInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    permission: Permission = strawberry.field(description="The permission to restrict or restore.")


@strawberry.type(description="The user after the change.")
class UserPayload:
    user: User = strawberry.field(description="The user.")


@strawberry.type(description="The users after the move.")
class MoveUsersToGroupPayload:
    users: list[User] = strawberry.field(description="The moved users.")


UserResult = Annotated[
    UserPayload | MutationError, strawberry.union("UserResult", description="Result of a user change.")
]
MoveUsersResult = Annotated[
    MoveUsersToGroupPayload | MutationError,
    strawberry.union("MoveUsersToGroupResult", description="Result of moveUsersToGroup."),
]


def _user_id(value: str | None) -> int:
    return decode_id(value, "User") or 0


def _user_payload(member: Membership) -> UserPayload:
    return UserPayload(user=User.from_model(member))


def _methods(methods: list[PaymentMethod]) -> list[DomainPaymentMethod]:
    return [DomainPaymentMethod(m.value) for m in methods]


@strawberry.type
class UserQuery:
    @strawberry.field(description="The company's users, by creation. Requires `user:read` (administrators, managers).")
    async def users(
        self, info: strawberry.Info,
        filter: Annotated[UserFilter | None, strawberry.argument(description="Conditions.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[User]:
        f = filter or UserFilter()
        domain_filter = use_cases.UserFilter(
            search=f.search, group_id=optional_id(f.group_id, "Group"),
            role=to_domain_role(f.role) if f.role else None,
            status=MembershipStatus(f.status.value) if f.status else None,
        )
        async with info.context.reading() as ctx:
            page = await use_cases.list_users(ctx, filter=domain_filter, first=first, after=from_cursor(after))
        return connection(page, User.from_model)

    @strawberry.field(description="One user of the company, or null. Requires `user:read`, except for oneself.")
    async def user(
        self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(description="Global id.")],
    ) -> User | None:
        async with info.context.reading() as ctx:
            member = await use_cases.get_user(ctx, _user_id(id))
        return User.from_model(member) if member else None


@strawberry.type
class UserMutation:
    @strawberry.mutation(description="Invite a person by email into a group with a role. Requires `user:create`.")
    async def invite_user(self, info: strawberry.Info, input: Annotated[InviteUserInput, INPUT]) -> UserResult:
        return await run_mutation(info, lambda ctx: use_cases.invite_user(
            ctx, email=input.email, group_id=decode_id(input.group_id, "Group") or 0, role=to_domain_role(input.role),
        ), _user_payload)

    @strawberry.mutation(description="Accept an invitation with the emailed token. Open to the token's holder.")
    async def accept_invitation(
        self, info: strawberry.Info, input: Annotated[AcceptInvitationInput, INPUT],
    ) -> UserResult:
        return await run_mutation(info, lambda ctx: use_cases.accept_invitation(
            ctx, token=input.token, first_name=input.first_name, last_name=input.last_name, password=input.password,
        ), _user_payload)

    @strawberry.mutation(
        description="Create a user directly; they get a set-password link valid 24 hours. Requires `user:create`.")
    async def create_user(self, info: strawberry.Info, input: Annotated[CreateUserInput, INPUT]) -> UserResult:
        return await run_mutation(info, lambda ctx: use_cases.create_user(
            ctx, first_name=input.first_name, last_name=input.last_name, email=input.email,
            group_id=decode_id(input.group_id, "Group") or 0, role=to_domain_role(input.role),
            payment_methods=_methods(input.payment_methods),
        ), _user_payload)

    @strawberry.mutation(description=(
        "Change a user's names, group, role or payment methods. "
        "Requires `user:update`; roles need `user:assign_role`."))
    async def update_user(self, info: strawberry.Info, input: Annotated[UpdateUserInput, INPUT]) -> UserResult:
        group_id = optional_id(input.group_id, "Group")
        return await run_mutation(info, lambda ctx: use_cases.update_user(
            ctx, membership_id=_user_id(input.id), first_name=input.first_name, last_name=input.last_name,
            group_id=group_id, role=to_domain_role(input.role) if input.role else None,
            payment_methods=None if input.payment_methods is None else _methods(input.payment_methods),
        ), _user_payload)

    @strawberry.mutation(description="Deactivate a user; effective on their next request. Requires `user:deactivate`.")
    async def deactivate_user(self, info: strawberry.Info, input: Annotated[UserIdInput, INPUT]) -> UserResult:
        return await run_mutation(
            info, lambda ctx: use_cases.set_user_active(ctx, membership_id=_user_id(input.id), active=False),
            _user_payload)

    @strawberry.mutation(description="Reactivate a deactivated user. Requires `user:deactivate`.")
    async def reactivate_user(self, info: strawberry.Info, input: Annotated[UserIdInput, INPUT]) -> UserResult:
        return await run_mutation(
            info, lambda ctx: use_cases.set_user_active(ctx, membership_id=_user_id(input.id), active=True),
            _user_payload)

    @strawberry.mutation(description="Move users into a group. Requires `group:manage`.")
    async def move_users_to_group(
        self, info: strawberry.Info, input: Annotated[MoveUsersToGroupInput, INPUT],
    ) -> MoveUsersResult:
        if len(input.user_ids) > 100:
            return MutationError.from_domain(
                DomainError(ErrorCode.INVALID_INPUT, "At most 100 users at once", "userIds"))
        return await run_mutation(info, lambda ctx: use_cases.move_users_to_group(
            ctx, membership_ids=[_user_id(u) for u in input.user_ids], group_id=decode_id(input.group_id, "Group") or 0,
        ), lambda members: MoveUsersToGroupPayload(users=[User.from_model(m) for m in members]))

    @strawberry.mutation(
        description="Take one permission away from one user, at once. Requires `user:restrict` (administrators).")
    async def restrict_user_permission(
        self, info: strawberry.Info, input: Annotated[UserPermissionInput, INPUT],
    ) -> UserResult:
        return await run_mutation(info, lambda ctx: permission_use_cases.restrict_permission(
            ctx, membership_id=_user_id(input.user_id), permission=to_domain_permission(input.permission),
        ), _user_payload)

    @strawberry.mutation(description="Give back a restricted permission. Requires `user:restrict` (administrators).")
    async def restore_user_permission(
        self, info: strawberry.Info, input: Annotated[UserPermissionInput, INPUT],
    ) -> UserResult:
        return await run_mutation(info, lambda ctx: permission_use_cases.restore_permission(
            ctx, membership_id=_user_id(input.user_id), permission=to_domain_permission(input.permission),
        ), _user_payload)
