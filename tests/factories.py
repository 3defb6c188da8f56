"""Plain factory functions and a small GraphQL client for tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select

from models import Company, Group, Membership, MembershipStatus, Role, User
from resolvers.context import Services
from schema.relay import to_global_id

PASSWORD = "correct-horse-battery"
_sequence = itertools.count(1)
# Valid Norwegian organisation numbers (mod-11 check digit).
VALID_NO_ORG_NUMBERS = ["923609016", "974760673", "981544315", "889640782", "971526157"]


@dataclass
class Member:
    membership_id: int
    user_id: int
    company_id: int
    email: str
    role: Role
    password: str = PASSWORD
    token: str | None = None

    @property
    def gid(self) -> str:
        return to_global_id("User", self.membership_id)


@dataclass
class Tenant:
    company_id: int
    group_id: int
    members: dict[Role, Member] = field(default_factory=dict)

    @property
    def gid(self) -> str:
        return to_global_id("Company", self.company_id)

    @property
    def group_gid(self) -> str:
        return to_global_id("Group", self.group_id)

    def __getitem__(self, role: Role) -> Member:
        return self.members[role]


async def create_company(services: Services, **overrides) -> tuple[int, int]:
    """A company with a default group; returns (company_id, group_id)."""
    n = next(_sequence)
    values = dict(
        name=f"Company {n} AS", country="NO", org_number=VALID_NO_ORG_NUMBERS[n % len(VALID_NO_ORG_NUMBERS)],
        currency="NOK", street="Gate 1", postal_code="0150", city="Oslo", contact_email=f"post{n}@example.com",
    )
    values.update(overrides)
    async with services.db.transaction() as session:
        company = Company(**values)
        session.add(company)
        await session.flush()
        group = Group(company_id=company.id, name="Default")
        session.add(group)
        await session.flush()
        return company.id, group.id


async def create_member(
    services: Services, company_id: int, group_id: int, role: Role, *, email: str | None = None,
    password: str = PASSWORD, status: MembershipStatus = MembershipStatus.ACTIVE, first_name: str = "Test",
) -> Member:
    email = email or f"{role.value}{next(_sequence)}@example.com"
    async with services.db.transaction() as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, first_name=first_name, last_name=role.value.title(),
                        password_hash=await services.passwords.hash(password))
            session.add(user)
            await session.flush()
        membership = Membership(company_id=company_id, user_id=user.id, group_id=group_id, role=role.value,
                                status=status.value, payment_methods=["card"])
        session.add(membership)
        await session.flush()
        return Member(membership.id, user.id, company_id, email, role, password)


async def create_operator(services: Services, email: str = "operator@example.com") -> Member:
    async with services.db.transaction() as session:
        user = User(email=email, first_name="Op", last_name="Erator", is_operator=True,
                    password_hash=await services.passwords.hash(PASSWORD))
        session.add(user)
        await session.flush()
        return Member(0, user.id, 0, email, Role.ADMIN)


class Api:
    """Posts GraphQL over real HTTP to the ASGI app."""

    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.client, self.services = client, services

    async def raw(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                          headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def query(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        body = await self.raw(query, variables, token)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def mutate(self, name: str, input_type: str, selection: str, input: dict, token: str | None = None) -> dict:
        """The whole response body of `name(input: $input) { selection }`, `$input` being an `input_type`."""
        query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"
        return await self.raw(query, {"input": input}, token)

    async def login(self, email: str, password: str = PASSWORD, company_id: str | None = None) -> dict:
        data = await self.query(
            """mutation($input: LoginInput!) { login(input: $input) {
                __typename ... on AuthPayload { accessToken refreshToken companyId }
                ... on MutationError { code message } } }""",
            {"input": {"email": email, "password": password, "companyId": company_id}},
        )
        return data["login"]

    async def token_for(self, member: Member) -> str:
        result = await self.login(member.email, member.password)
        assert result["__typename"] == "AuthPayload", result
        member.token = result["accessToken"]
        return member.token

    async def tenant(self, roles=tuple(Role)) -> Tenant:
        """A company with one signed-in member per role."""
        company_id, group_id = await create_company(self.services)
        tenant = Tenant(company_id, group_id)
        for role in roles:
            member = await create_member(self.services, company_id, group_id, role)
            await self.token_for(member)
            tenant.members[role] = member
        return tenant


async def operator(api: Api) -> Member:
    """A platform operator of its own, signed in."""
    member = await create_operator(api.services, email=f"operator{next(_sequence)}@example.com")
    await api.token_for(member)
    return member


def error_code(body: dict) -> str | None:
    errors = body.get("errors") or []
    return errors[0].get("extensions", {}).get("code") if errors else None
