"""Special-use email domains (RFC 6761: .test, .example, .invalid, .localhost) receive no mail.
The demo company lives on demo.procura.test, so they are accepted in development and test, and
refused in production: the demo works end to end where it runs, and a real deployment refuses
addresses nobody can read."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, select

from demo.load import DEMO_PASSWORD, load_demo_data
from models import Membership, OutboxMessage, User
from resolvers.validation import SPECIAL_USE_ENVIRONMENTS, special_use_domains_allowed
from settings import Settings
from tests.conftest import _empty_tables
from tests.factories import Api
from tests.schema.test_api_conventions import other_app

INVITE = """mutation($input: InviteUserInput!) { inviteUser(input: $input) {
  __typename ... on UserPayload { user { id email status role } } ... on MutationError { code message field } } }"""
ACCEPT = """mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) {
  __typename ... on UserPayload { user { id email status } } ... on MutationError { code message field } } }"""
CREATE = """mutation($input: CreateUserInput!) { createUser(input: $input) {
  __typename ... on UserPayload { user { email } } ... on MutationError { code message field } } }"""
UPDATE_COMPANY = """mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) {
  __typename ... on UpdateCompanyPayload { company { contactEmail } } ... on MutationError { code message field } } }"""
REGISTER = """mutation($input: RegisterCompanyInput!) { registerCompany(input: $input) {
  __typename ... on RegisterCompanyPayload { company { name } } ... on MutationError { code message field } } }"""
GROUPS = "{ groups(first: 10) { edges { node { id name } } } }"


@asynccontextmanager
async def app_in(database_url: str, environment: str) -> AsyncIterator[Api]:
    """An application in the given environment on the test database, emptied afterwards."""
    async with other_app(database_url, procura_env=environment) as (_, api):
        try:
            yield api
        finally:
            await api.services.mailer.drain()
            await _empty_tables(api.services.db)


async def demo_admin(api: Api) -> tuple[str, str]:
    """The demo company's administrator's token and the id of its "Home care north" group."""
    await load_demo_data(api.services)
    login = await api.login("admin@demo.procura.test", DEMO_PASSWORD)
    assert login["__typename"] == "AuthPayload", login
    token = login["accessToken"]
    groups = (await api.query(GROUPS, token=token))["groups"]["edges"]
    return token, next(edge["node"]["id"] for edge in groups if edge["node"]["name"] == "Home care north")


async def count(api: Api, model, *conditions) -> int:
    async with api.services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*conditions))


def test_the_rule_names_development_and_test_only():
    assert {"development", "test"} == SPECIAL_USE_ENVIRONMENTS
    assert special_use_domains_allowed(Settings(_env_file=None, procura_env="development"))
    assert special_use_domains_allowed(Settings(_env_file=None, procura_env="test"))
    assert not special_use_domains_allowed(Settings(_env_file=None, procura_env="production", jwt_secret="s" * 40))
    assert not special_use_domains_allowed(Settings(_env_file=None, jwt_secret="s" * 40))  # the default environment


async def test_the_demo_company_invites_a_user_end_to_end_in_development(database_url):
    async with app_in(database_url, "development") as api:
        token, group = await demo_admin(api)

        invited = (
            await api.query(
                INVITE, {"input": {"email": "Nurse2@demo.procura.test", "groupId": group, "role": "CUSTOMER"}}, token
            )
        )["inviteUser"]

        assert invited["__typename"] == "UserPayload", invited
        assert (invited["user"]["email"], invited["user"]["status"]) == ("nurse2@demo.procura.test", "INVITED")
        async with api.services.db.read_sessions() as session:
            body = await session.scalar(
                select(OutboxMessage.body).where(OutboxMessage.recipient == "nurse2@demo.procura.test")
            )
        link = re.search(r"accept-invitation\?token=([A-Za-z0-9_-]+)", body).group(1)
        accepted = (
            await api.query(
                ACCEPT,
                {"input": {"token": link, "firstName": "Nina", "lastName": "Nurse", "password": "a-long-passphrase"}},
            )
        )["acceptInvitation"]
        assert accepted["user"] == {
            "id": invited["user"]["id"],
            "email": "nurse2@demo.procura.test",
            "status": "ACTIVE",
        }
        assert (await api.login("nurse2@demo.procura.test", "a-long-passphrase"))["__typename"] == "AuthPayload"


@pytest.mark.parametrize(
    "email", ["nurse2@demo.procura.test", "a@unit.example", "a@x.invalid", "a@localhost", "a@x.localhost"]
)
async def test_development_and_test_accept_every_special_use_domain(api, email):
    assert api.services.settings.procura_env == "test"
    token, group = await demo_admin(api)
    invited = (await api.query(INVITE, {"input": {"email": email, "groupId": group, "role": "CUSTOMER"}}, token))[
        "inviteUser"
    ]
    assert (invited["__typename"], invited["user"]["email"]) == ("UserPayload", email)


@pytest.mark.parametrize(
    ("email", "tld"),
    [
        ("nurse2@demo.procura.test", "test"),
        ("a@unit.EXAMPLE", "example"),
        ("a@x.invalid", "invalid"),
        ("a@localhost", "localhost"),
    ],
)
async def test_production_refuses_special_use_domains_and_writes_nothing(database_url, email, tld):
    async with app_in(database_url, "production") as api:
        token, group = await demo_admin(api)
        users, memberships, mail = await count(api, User), await count(api, Membership), await count(api, OutboxMessage)
        refused = {
            "__typename": "MutationError",
            "code": "INVALID_INPUT",
            "field": "email",
            "message": f"Not a valid email address: .{tld} is a special-use domain that receives no mail",
        }

        invited = (await api.query(INVITE, {"input": {"email": email, "groupId": group, "role": "CUSTOMER"}}, token))[
            "inviteUser"
        ]
        created = (
            await api.query(
                CREATE,
                {
                    "input": {
                        "email": email,
                        "groupId": group,
                        "role": "CUSTOMER",
                        "firstName": "N",
                        "lastName": "N",
                        "paymentMethods": [],
                    }
                },
                token,
            )
        )["createUser"]
        company = (await api.query(UPDATE_COMPANY, {"input": {"contactEmail": email}}, token))["updateCompany"]

        assert invited == created == refused
        assert company == refused | {"field": "contactEmail"}
        assert (await count(api, User), await count(api, Membership), await count(api, OutboxMessage)) == (
            users,
            memberships,
            mail,
        )
        # An ordinary domain still works in production.
        ok = (
            await api.query(
                INVITE, {"input": {"email": "nurse2@nordlys-omsorg.no", "groupId": group, "role": "CUSTOMER"}}, token
            )
        )["inviteUser"]
        assert ok["__typename"] == "UserPayload"


async def test_production_registration_refuses_a_special_use_administrator(database_url):
    async with app_in(database_url, "production") as api:
        result = (
            await api.query(
                REGISTER,
                {
                    "input": {
                        "country": "NO",
                        "orgNumber": "974760673",
                        "name": "Testfirma AS",
                        "address": {"street": "Gate 1", "postalCode": "0150", "city": "Oslo"},
                        "contactEmail": "post@testfirma.no",
                        "administrator": {
                            "email": "boss@testfirma.test",
                            "firstName": "B",
                            "lastName": "Oss",
                            "password": "a-long-passphrase",
                        },
                    }
                },
            )
        )["registerCompany"]
        assert (result["code"], result["field"]) == ("INVALID_INPUT", "administrator.email")
        assert await count(api, User) == 0
