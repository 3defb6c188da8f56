"""Registering a company (open to anyone) and changing its details (administrators only),
end to end through the ASGI app."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import models
from models import Company, Role, User
from tests.factories import PASSWORD, create_company, create_member, error_code

REGISTER = """
mutation($input: RegisterCompanyInput!) { registerCompany(input: $input) {
  __typename
  ... on RegisterCompanyPayload {
    company { id name country orgNumber currency contactEmail contactPhone address { street postalCode city } }
    administrator { id email firstName lastName role status group { name } paymentMethods }
    otherAccountsOnOrgNumber notice
  }
  ... on MutationError { code message field }
} }"""

UPDATE = """
mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) {
  __typename
  ... on UpdateCompanyPayload { company { id name contactEmail contactPhone address { street postalCode city } } }
  ... on MutationError { code message field }
} }"""

ME = ("{ me { email isOperator company { id name currency } user { id role status } "
      "companies { role company { id orgNumber } } } }")


def registration(**overrides) -> dict:
    administrator = {"email": "founder@example.com", "firstName": "Kari", "lastName": "Nordmann", "password": PASSWORD}
    administrator.update(overrides.pop("administrator", {}))
    values = {
        "country": "NO", "orgNumber": "923609016", "name": "Fjord Innkjøp AS",
        "address": {"street": "Storgata 1", "postalCode": "0155", "city": "Oslo"},
        "contactEmail": "post@fjord.example", "contactPhone": "+47 22 00 00 00", "administrator": administrator,
    }
    values.update(overrides)
    return values


async def register(api, **overrides) -> dict:
    return (await api.query(REGISTER, {"input": registration(**overrides)}))["registerCompany"]


async def row_counts(services, ignore: tuple[str, ...] = ()) -> dict[str, int]:
    """Rows per table, for every table of the schema: a failed registration writes none anywhere."""
    async with services.db.read_sessions() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in models.Base.metadata.sorted_tables if table.name not in ignore
        }


async def written(services) -> dict[str, int]:
    """The tables that hold any row (on an empty database: what was written)."""
    return {name: n for name, n in (await row_counts(services)).items() if n}


def core(counts: dict[str, int]) -> dict[str, int]:
    return {name: counts[name] for name in ("companies", "users", "memberships", "groups")}


async def company_row(services, company_id: int) -> dict:
    async with services.db.read_sessions() as session:
        company = await session.get_one(Company, company_id)
        return {c.name: getattr(company, c.name) for c in Company.__table__.columns}




# --- registerCompany ------------------------------------------------------------------------------

async def test_registering_a_norwegian_company_makes_its_first_administrator(api, services):
    result = await register(api)

    assert result["__typename"] == "RegisterCompanyPayload"
    assert result["company"]["name"] == "Fjord Innkjøp AS"
    assert result["company"]["country"] == "NO"
    assert result["company"]["orgNumber"] == "923 609 016"
    assert result["company"]["currency"] == "NOK"
    assert result["company"]["contactEmail"] == "post@fjord.example"
    assert result["company"]["contactPhone"] == "+47 22 00 00 00"
    assert result["company"]["address"] == {"street": "Storgata 1", "postalCode": "0155", "city": "Oslo"}
    admin = result["administrator"]
    assert (admin["email"], admin["firstName"], admin["lastName"]) == ("founder@example.com", "Kari", "Nordmann")
    assert (admin["role"], admin["status"], admin["group"]["name"]) == ("ADMIN", "ACTIVE", "Default")
    assert result["otherAccountsOnOrgNumber"] == 0
    assert result["notice"] is None
    assert core(await row_counts(services)) == {"companies": 1, "users": 1, "memberships": 1, "groups": 1}
    async with services.db.read_sessions() as session:
        company = await session.scalar(select(Company))
        user = await session.scalar(select(User))
        assert (company.org_number, company.country, company.created_by_id) == ("923609016", "NO", user.id)
        assert user.password_hash.startswith("$argon2id$") and not user.is_operator

    login = await api.login("founder@example.com", PASSWORD)
    assert login["__typename"] == "AuthPayload"
    assert login["companyId"] == result["company"]["id"]
    me = (await api.query(ME, token=login["accessToken"]))["me"]
    assert me["company"] == {"id": result["company"]["id"], "name": "Fjord Innkjøp AS", "currency": "NOK"}
    assert me["user"] == {"id": admin["id"], "role": "ADMIN", "status": "ACTIVE"}


async def test_registering_a_swedish_company_uses_sek_and_the_swedish_format(api, services):
    result = await register(
        api, country="SE", orgNumber="556036-0793", name="Svensk Inköp AB",
        address={"street": "Drottninggatan 1", "postalCode": "111 51", "city": "Stockholm"},
    )

    assert result["__typename"] == "RegisterCompanyPayload"
    assert (result["company"]["country"], result["company"]["orgNumber"], result["company"]["currency"]) == (
        "SE", "556036-0793", "SEK"
    )
    assert (result["administrator"]["role"], result["administrator"]["status"]) == ("ADMIN", "ACTIVE")
    async with services.db.read_sessions() as session:
        assert (await session.scalar(select(Company.org_number))) == "5560360793"
    login = await api.login("founder@example.com", PASSWORD)
    assert login["__typename"] == "AuthPayload"
    me = (await api.query(ME, token=login["accessToken"]))["me"]
    assert me["company"]["currency"] == "SEK"


async def test_the_contact_phone_is_optional(api):
    result = await register(api, contactPhone=None)
    assert result["__typename"] == "RegisterCompanyPayload"
    assert result["company"]["contactPhone"] is None


CHECK_DIGIT = ("The check digit does not match: this is not a valid {} organisation number "
               "(look for a mistyped or swapped digit)")
DIGITS_ONLY = "A {} organisation number has digits only ({} of them; spaces, dashes and dots may separate them)"


@pytest.mark.parametrize(
    ("country", "org_number", "message"),
    [
        ("NO", "923609017", CHECK_DIGIT.format("Norwegian")),
        ("NO", "92360901", "A Norwegian organisation number has 9 digits; this one has 8"),
        ("NO", "556036-0793", "A Norwegian organisation number has 9 digits; this one has 10"),
        ("SE", "5560360794", CHECK_DIGIT.format("Swedish")),
        ("SE", "556036079", "A Swedish organisation number has 10 digits; this one has 9"),
        ("SE", "923 609 016", "A Swedish organisation number has 10 digits; this one has 9"),
        ("NO", "ABCDEFGHI", DIGITS_ONLY.format("Norwegian", 9)),
        ("SE", "556036/0793", DIGITS_ONLY.format("Swedish", 10)),
        ("NO", " ", "The organisation number is required (9 digits)"),
        ("SE", "", "The organisation number is required (10 digits)"),
    ],
)
async def test_an_invalid_org_number_registers_nothing(api, services, country, org_number, message):
    """The answer is in the API's own words, for the country and what is wrong (python-stdnum's texts
    and Python's quoting of the input never reach the client)."""
    result = await register(api, country=country, orgNumber=org_number)

    assert result == {"__typename": "MutationError", "code": "INVALID_ORG_NUMBER", "message": message,
                      "field": "orgNumber"}
    assert await written(services) == {}
    assert (await api.login("founder@example.com", PASSWORD))["code"] == "INVALID_CREDENTIALS"


async def test_a_second_account_on_the_same_org_number_is_allowed_and_informs(api, services):
    first = await register(api)
    second = await register(api, orgNumber="923 609 016", name="Fjord Innkjøp AS avd. Bergen",
                            administrator={"email": "bergen@example.com"})
    third = await register(api, name="Fjord Innkjøp AS avd. Tromsø", administrator={"email": "tromso@example.com"})

    assert first["otherAccountsOnOrgNumber"] == 0 and first["notice"] is None
    assert second["__typename"] == "RegisterCompanyPayload"
    assert second["otherAccountsOnOrgNumber"] == 1
    assert second["notice"] == (
        "1 other account(s) exist on this organisation number; this registration is a separate account."
    )
    assert second["company"]["orgNumber"] == "923 609 016"
    assert second["company"]["id"] != first["company"]["id"]
    assert third["otherAccountsOnOrgNumber"] == 2
    assert third["notice"].startswith("2 other account(s)")
    assert core(await row_counts(services)) == {"companies": 3, "users": 3, "memberships": 3, "groups": 3}


async def test_the_same_digits_in_another_country_are_not_counted(api):
    # 5560360793 is Swedish; nothing Norwegian shares it, and a Norwegian count ignores Swedish rows.
    await register(api, country="SE", orgNumber="5560360793")
    result = await register(api, administrator={"email": "other@example.com"})
    assert result["otherAccountsOnOrgNumber"] == 0


async def test_an_existing_email_with_a_wrong_password_is_taken_and_nothing_is_written(api, services):
    await register(api)
    # A failed password check may count against sign-in throttling; nothing else is written.
    before = await row_counts(services, ignore=("login_throttles",))

    result = await register(api, orgNumber="974760673", name="Another AS",
                            administrator={"email": "founder@example.com", "password": "not-the-password"})

    assert result["__typename"] == "MutationError"
    assert result["code"] == "EMAIL_TAKEN"
    assert result["field"] == "administrator.email"
    assert await row_counts(services, ignore=("login_throttles",)) == before
    assert core(before) == {"companies": 1, "users": 1, "memberships": 1, "groups": 1}


async def test_an_existing_person_with_the_right_password_administers_both_companies(api, services):
    first = await register(api)
    second = await register(
        api, orgNumber="974760673", name="Second AS",
        administrator={"email": " Founder@Example.COM ", "firstName": "Someone", "lastName": "Else",
                       "password": PASSWORD},
    )

    assert second["__typename"] == "RegisterCompanyPayload"
    assert second["administrator"]["email"] == "founder@example.com"
    # The person's own names stay: they belong to the person, not to the new company.
    assert (second["administrator"]["firstName"], second["administrator"]["lastName"]) == ("Kari", "Nordmann")
    assert (second["administrator"]["role"], second["administrator"]["status"]) == ("ADMIN", "ACTIVE")
    assert core(await row_counts(services)) == {"companies": 2, "users": 1, "memberships": 2, "groups": 2}

    login = await api.login("founder@example.com", PASSWORD)
    me = (await api.query(ME, token=login["accessToken"]))["me"]
    assert [(c["company"]["id"], c["role"]) for c in me["companies"]] == [
        (first["company"]["id"], "ADMIN"), (second["company"]["id"], "ADMIN"),
    ]
    assert me["company"]["id"] == first["company"]["id"]
    login_second = await api.login("founder@example.com", PASSWORD, company_id=second["company"]["id"])
    assert login_second["companyId"] == second["company"]["id"]


LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  __typename ... on MutationError { code } } }"""


async def test_password_guesses_through_registration_count_towards_the_sign_in_lock(api, services):
    """registerCompany checks an existing account's password: it must not be a way around the
    sign-in throttle (5 free failures per account, then locked)."""
    await register(api)
    for i in range(5):
        guess = await register(api, orgNumber="974760673", administrator={"password": f"guess-number-{i}"})
        assert guess["code"] == "EMAIL_TAKEN"

    login = (await api.query(LOGIN, {"email": "founder@example.com", "password": PASSWORD}))["login"]

    assert login == {"__typename": "MutationError", "code": "TOO_MANY_ATTEMPTS"}


async def test_a_locked_account_cannot_have_its_password_checked_by_registration(api, services):
    await register(api)
    for i in range(5):
        await api.query(LOGIN, {"email": "founder@example.com", "password": f"guess-number-{i}"})
    before = await row_counts(services)

    result = await register(api, orgNumber="974760673", name="Second AS")

    # Answering EMAIL_TAKEN for a wrong password and success for the right one while sign-in is
    # locked would tell a guesser which password is right.
    assert result["__typename"] == "MutationError"
    assert (result["code"], result["field"]) == ("TOO_MANY_ATTEMPTS", "administrator.email")
    assert await row_counts(services) == before


@pytest.mark.parametrize("password", ["short", "aaaaaaaaaaaaaa", "x" * 257])
async def test_a_weak_password_registers_nothing(api, services, password):
    result = await register(api, administrator={"password": password})
    assert result["__typename"] == "MutationError"
    assert (result["code"], result["field"]) == ("WEAK_PASSWORD", "administrator.password")
    assert await written(services) == {}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"administrator": {"email": "not-an-email"}}, "administrator.email"),
        ({"administrator": {"email": "kari@"}}, "administrator.email"),
        ({"contactEmail": "post at fjord"}, "contactEmail"),
        ({"name": "   "}, "name"),
        ({"name": "N" * 201}, "name"),
        ({"address": {"street": "Storgata 1", "postalCode": "0155", "city": ""}}, "address.city"),
        ({"administrator": {"firstName": " "}}, "administrator.firstName"),
    ],
)
async def test_invalid_input_registers_nothing_and_names_the_field(api, services, overrides, field):
    result = await register(api, **overrides)
    assert result["__typename"] == "MutationError"
    assert (result["code"], result["field"]) == ("INVALID_INPUT", field)
    assert await written(services) == {}


# --- company / updateCompany -----------------------------------------------------------------------

async def test_every_role_reads_its_own_company(api):
    tenant = await api.tenant()
    for member in tenant.members.values():
        data = await api.query("{ company { id orgNumber currency } }", token=member.token)
        assert data["company"]["id"] == tenant.gid
        assert data["company"]["currency"] == "NOK"


async def test_reading_the_company_needs_a_token(api):
    body = await api.raw("{ company { id } }")
    assert error_code(body) == "UNAUTHENTICATED"
    assert body["data"] is None


async def test_an_administrator_changes_name_and_address(api, services):
    tenant = await api.tenant([Role.ADMIN])
    before = await company_row(services, tenant.company_id)

    result = (await api.query(UPDATE, {"input": {
        "name": "  Renamed   AS ", "address": {"street": "Kirkegata 5", "postalCode": "7011", "city": "Trondheim"},
    }}, token=tenant[Role.ADMIN].token))["updateCompany"]

    assert result["__typename"] == "UpdateCompanyPayload"
    assert result["company"]["id"] == tenant.gid
    assert result["company"]["name"] == "Renamed AS"
    assert result["company"]["address"] == {"street": "Kirkegata 5", "postalCode": "7011", "city": "Trondheim"}
    assert result["company"]["contactEmail"] == before["contact_email"]
    after = await company_row(services, tenant.company_id)
    assert (after["name"], after["street"], after["postal_code"], after["city"]) == (
        "Renamed AS", "Kirkegata 5", "7011", "Trondheim",
    )
    changed = {"name", "street", "postal_code", "city", "updated_at"}
    unchanged = {k: v for k, v in after.items() if k not in changed}
    assert unchanged == {k: v for k, v in before.items() if k not in changed}


async def test_an_administrator_changes_contact_details(api, services):
    tenant = await api.tenant([Role.ADMIN])
    contact = {"contactEmail": "Innkjop@Example.com", "contactPhone": "+47 99 99 99 99"}
    result = (await api.query(UPDATE, {"input": contact}, token=tenant[Role.ADMIN].token))["updateCompany"]
    assert result["company"]["contactEmail"] == "innkjop@example.com"
    assert result["company"]["contactPhone"] == "+47 99 99 99 99"
    assert (await company_row(services, tenant.company_id))["contact_email"] == "innkjop@example.com"


async def test_invalid_company_details_change_nothing(api, services):
    tenant = await api.tenant([Role.ADMIN])
    before = await company_row(services, tenant.company_id)
    result = (await api.query(UPDATE, {"input": {"name": "Would Be Renamed", "contactEmail": "nope"}},
                              token=tenant[Role.ADMIN].token))["updateCompany"]
    assert (result["__typename"], result["code"], result["field"]) == ("MutationError", "INVALID_INPUT", "contactEmail")
    assert await company_row(services, tenant.company_id) == before


@pytest.mark.parametrize("role", [Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER])
async def test_other_roles_may_not_change_the_company(api, services, role):
    tenant = await api.tenant([Role.ADMIN, role])
    before = await company_row(services, tenant.company_id)

    body = await api.raw(UPDATE, {"input": {"name": "Hijacked AS"}}, token=tenant[role].token)

    assert error_code(body) == "FORBIDDEN"
    assert body["data"] is None
    assert await company_row(services, tenant.company_id) == before


async def test_changing_the_company_needs_a_token(api, services):
    company_id, _ = await create_company(services)
    before = await company_row(services, company_id)
    body = await api.raw(UPDATE, {"input": {"name": "Anonymous AS"}})
    assert error_code(body) == "UNAUTHENTICATED"
    assert body["data"] is None
    assert await company_row(services, company_id) == before


async def test_an_administrator_changes_only_the_company_of_their_token(api, services):
    mine = await api.tenant([Role.ADMIN])
    other_id, other_group = await create_company(services)
    await create_member(services, other_id, other_group, Role.ADMIN)
    before = await company_row(services, other_id)

    result = (await api.query(UPDATE, {"input": {"name": "Mine AS"}}, token=mine[Role.ADMIN].token))["updateCompany"]

    assert result["company"]["id"] == mine.gid
    assert await company_row(services, other_id) == before
