"""Signing in and out end to end: login and its throttling, access tokens, refresh-token
rotation with reuse detection, logout, people with several companies, operators."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import func, select, update

from models import AuthSession, LoginThrottle, Membership, MembershipStatus, RefreshToken, Role
from models.base import utcnow
from policies.permissions import OPERATOR_ROLE
from resolvers.auth import INVALID_CREDENTIALS
from resolvers.security import token_digest
from schema.relay import to_global_id
from tests.conftest import test_settings as make_settings
from tests.factories import PASSWORD, Api, create_company, create_member, create_operator, error_code
from tests.helpers import count

LOGIN = """
mutation($input: LoginInput!) { login(input: $input) {
  __typename
  ... on AuthPayload { accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt personId companyId }
  ... on MutationError { code message field }
} }"""

REFRESH = """
mutation($token: String!) { refreshToken(input: {refreshToken: $token}) {
  __typename
  ... on AuthPayload { accessToken refreshToken personId companyId }
  ... on MutationError { code message field }
} }"""

LOGOUT = """
mutation { logout {
  __typename ... on AcceptedPayload { message } ... on MutationError { code message field }
} }"""

SWITCH = """
mutation($companyId: ID!) { switchCompany(input: {companyId: $companyId}) {
  __typename
  ... on AuthPayload { accessToken refreshToken companyId }
  ... on MutationError { code message field }
} }"""

ME = """{ me { personId email isOperator company { id } user { id role }
             companies { role company { id } } permissions } }"""

FAILED_LOGIN = {"__typename": "MutationError", "code": "INVALID_CREDENTIALS", "message": INVALID_CREDENTIALS,
                "field": None}
LOCKED_OUT = {
    "__typename": "MutationError", "code": "TOO_MANY_ATTEMPTS",
    "message": "Too many failed sign-ins; wait a moment and try again", "field": None,
}


async def login(api: Api, email: str, password: str = PASSWORD, company_id: str | None = None) -> dict:
    variables = {"input": {"email": email, "password": password, "companyId": company_id}}
    return (await api.query(LOGIN, variables))["login"]


async def refresh(api: Api, token: str) -> dict:
    return (await api.query(REFRESH, {"token": token}))["refreshToken"]


async def me(api: Api, token: str) -> dict:
    return (await api.query(ME, token=token))["me"]


async def me_code(api: Api, token: str) -> str | None:
    """The error code of `me` with this token (None when it works)."""
    return error_code(await api.raw("{ me { email } }", token=token))


async def throttle(services, key: str) -> LoginThrottle | None:
    async with services.db.read_sessions() as session:
        return await session.get(LoginThrottle, key)


async def expire_locks(services) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))


def permission_names(services, role: Role | str) -> list[str]:
    """What `me.permissions` lists for a role, in the API's order, from the Casbin policy."""
    return [p.name for p in services.authorizer.role_permissions(role.value if isinstance(role, Role) else role)]


async def member(api: Api, role: Role = Role.CUSTOMER, **kwargs):
    company_id, group_id = await create_company(api.services)
    return await create_member(api.services, company_id, group_id, role, **kwargs)


# --- login --------------------------------------------------------------------------------------

async def test_login_returns_an_access_and_a_refresh_token(api, services):
    person = await member(api, Role.MANAGER)
    before = utcnow()

    result = await login(api, person.email)

    assert result["__typename"] == "AuthPayload"
    assert result["accessToken"].count(".") == 2
    assert len(result["refreshToken"]) >= 43 and "." not in result["refreshToken"]
    assert result["companyId"] == to_global_id("Company", person.company_id)
    assert result["personId"] == to_global_id("Person", person.user_id)
    viewer = await me(api, result["accessToken"])
    assert viewer["email"] == person.email
    assert viewer["user"] == {"id": person.gid, "role": "MANAGER"}
    assert result["personId"] == viewer["personId"]
    assert await count(services, AuthSession) == 1
    async with services.db.read_sessions() as session:
        stored = await session.scalar(select(RefreshToken))
        # Only a digest of the refresh token is stored.
        assert stored.token_hash == token_digest(result["refreshToken"]) != result["refreshToken"]
        assert stored.used_at is None
        assert timedelta(days=29, hours=23) < stored.expires_at - before <= timedelta(days=30, minutes=1)


async def test_login_ignores_the_case_and_spaces_of_the_email(api):
    await member(api, email="mixed.case@example.com")
    result = await login(api, "  Mixed.Case@EXAMPLE.com ")
    assert result["__typename"] == "AuthPayload"


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(api, services):
    person = await member(api)
    invited = await member(api, email="invited@example.com", status=MembershipStatus.INVITED)

    wrong_password = await login(api, person.email, "not-the-password")
    unknown_email = await login(api, "nobody@example.com", PASSWORD)
    not_yet_active = await login(api, invited.email, PASSWORD)

    assert wrong_password == unknown_email == not_yet_active == FAILED_LOGIN
    assert await count(services, AuthSession) == 0
    assert await count(services, RefreshToken) == 0


async def test_a_deactivated_member_cannot_sign_in(api, services):
    person = await member(api, status=MembershipStatus.DEACTIVATED)
    assert await login(api, person.email) == FAILED_LOGIN
    assert await count(services, AuthSession) == 0


async def test_the_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(api, services):
    person = await member(api)

    failures = [await login(api, person.email, f"wrong-password-{i}") for i in range(5)]
    sixth = await login(api, person.email, PASSWORD)

    assert failures == [FAILED_LOGIN] * 5
    assert sixth == LOCKED_OUT
    assert await count(services, AuthSession) == 0
    row = await throttle(services, f"email:{person.email}")
    assert row.failures == 5
    assert row.locked_until - row.last_failure_at == timedelta(seconds=2)
    # The lock is per account: another account from the same address still signs in.
    other = await member(api)
    assert (await login(api, other.email))["__typename"] == "AuthPayload"


async def test_an_unknown_email_is_locked_out_exactly_like_an_existing_one(api, services):
    person = await member(api)

    existing = [await login(api, person.email, "wrong-password") for _ in range(6)]
    unknown = [await login(api, "ghost@example.com", "wrong-password") for _ in range(6)]

    assert existing == unknown == [FAILED_LOGIN] * 5 + [LOCKED_OUT]
    assert (await throttle(services, "email:ghost@example.com")).failures == 5


async def test_the_lock_is_keyed_on_the_normalised_email(api):
    person = await member(api)
    for _ in range(5):
        await login(api, person.email.upper(), "wrong-password")
    assert await login(api, f" {person.email} ") == LOCKED_OUT


async def test_a_successful_login_clears_the_account_failures(api, services):
    person = await member(api)
    for _ in range(4):
        assert await login(api, person.email, "wrong-password") == FAILED_LOGIN
    assert (await login(api, person.email))["__typename"] == "AuthPayload"
    assert await throttle(services, f"email:{person.email}") is None
    for _ in range(4):
        assert await login(api, person.email, "wrong-password") == FAILED_LOGIN
    assert (await login(api, person.email))["__typename"] == "AuthPayload"


async def test_the_lock_expires_and_then_doubles_on_the_next_failure(api, services):
    person = await member(api)
    for _ in range(5):
        await login(api, person.email, "wrong-password")
    assert await login(api, person.email) == LOCKED_OUT

    await expire_locks(services)
    assert await login(api, person.email, "wrong-password") == FAILED_LOGIN
    row = await throttle(services, f"email:{person.email}")
    assert row.failures == 6
    assert row.locked_until - row.last_failure_at == timedelta(seconds=4)
    assert await login(api, person.email) == LOCKED_OUT

    await expire_locks(services)
    result = await login(api, person.email)
    assert result["__typename"] == "AuthPayload"
    assert await throttle(services, f"email:{person.email}") is None


@pytest.mark.parametrize("earlier_failures", [0, 1])
async def test_a_burst_of_concurrent_guesses_gets_no_more_than_the_free_failures(api, services, earlier_failures):
    """The check and the count are one atomic step: parallel guesses cannot all pass the check
    before the first failure is recorded, and two first failures cannot collide on inserting
    the counter (which answered CONFLICT and recorded nothing)."""
    person = await member(api)
    for i in range(earlier_failures):
        assert await login(api, person.email, f"earlier-{i}") == FAILED_LOGIN

    burst = await asyncio.gather(*[login(api, person.email, f"guess-{i}") for i in range(12)])

    codes = Counter(result["code"] for result in burst)
    assert codes == {"INVALID_CREDENTIALS": 5 - earlier_failures, "TOO_MANY_ATTEMPTS": 7 + earlier_failures}
    assert (await throttle(services, f"email:{person.email}")).failures == 5
    assert await login(api, person.email) == LOCKED_OUT


class TestPerAddressThrottle:
    """An address is locked after `login_free_failures_per_address` failures, whichever emails."""

    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, login_free_failures_per_address=3)

    @pytest.fixture
    async def other_address(self, app, services):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, services)

    async def test_an_address_is_locked_after_its_own_threshold(self, api, services, other_address):
        person = await member(api)

        failures = [await login(api, f"guess{i}@example.com", "wrong-password") for i in range(3)]
        fourth = await login(api, person.email, PASSWORD)

        assert failures == [FAILED_LOGIN] * 3
        assert fourth == LOCKED_OUT
        row = await throttle(services, "ip:203.0.113.7")
        assert row.failures == 3
        # Each email failed once only; the other address is not locked, so the account signs in there.
        assert (await throttle(services, "email:guess0@example.com")).failures == 1
        assert (await throttle(services, "ip:198.51.100.23")) is None
        assert (await login(other_address, person.email))["__typename"] == "AuthPayload"

    async def test_the_address_lock_expires(self, api, services):
        person = await member(api)
        for i in range(3):
            await login(api, f"guess{i}@example.com", "wrong-password")
        assert await login(api, person.email) == LOCKED_OUT
        await expire_locks(services)
        assert (await login(api, person.email))["__typename"] == "AuthPayload"


# --- access tokens --------------------------------------------------------------------------------

def _forge(services, claims: dict, **changes) -> str:
    settings = services.settings
    claims = {**claims, **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def _signed_in_claims(api):
    person = await member(api)
    result = await login(api, person.email)
    claims = jwt.decode(result["accessToken"], options={"verify_signature": False})
    return person, result["accessToken"], claims


async def test_a_token_made_with_the_server_key_and_real_claims_works(api, services):
    # The positive control for the forgeries below.
    person, _, claims = await _signed_in_claims(api)
    assert (await me(api, _forge(services, claims)))["email"] == person.email


@pytest.mark.parametrize(
    "forgery",
    ["tampered-signature", "tampered-payload", "other-secret", "alg-none", "wrong-audience", "wrong-issuer",
     "expired", "no-session", "other-session", "not-a-jwt"],
)
async def test_forged_or_expired_access_tokens_are_unauthenticated(api, services, forgery):
    _person, token, claims = await _signed_in_claims(api)
    settings = services.settings
    header, payload, signature = token.split(".")
    now = int(utcnow().timestamp())
    flipped = "A" if signature[10] != "A" else "B"
    forged = {
        "tampered-signature": lambda: f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}",
        "tampered-payload": lambda: f"{header}.{_forge(services, claims, sub='999').split('.')[1]}.{signature}",
        "other-secret": lambda: jwt.encode(claims, "another-secret-" + "z" * 32, algorithm="HS256"),
        "alg-none": lambda: jwt.encode(claims, None, algorithm="none"),
        "wrong-audience": lambda: _forge(services, claims, aud="another-api"),
        "wrong-issuer": lambda: _forge(services, claims, iss="someone-else"),
        "expired": lambda: _forge(services, claims, iat=now - 3600, exp=now - 10),
        "no-session": lambda: _forge(services, claims, sid=None),
        "other-session": lambda: _forge(services, claims, sid=str(int(claims["sid"]) + 1)),
        "not-a-jwt": lambda: "definitely-not-a-token",
    }[forgery]()
    assert settings.jwt_secret.startswith("test-secret-")

    body = await api.raw("{ me { email } }", token=forged)

    assert error_code(body) == "UNAUTHENTICATED"
    assert body["data"] is None
    assert await me_code(api, token) is None  # the genuine token still works


async def test_a_token_of_another_scheme_is_ignored(api):
    _, token, _ = await _signed_in_claims(api)
    response = await api.client.post("/graphql", json={"query": "{ me { email } }"},
                                     headers={"authorization": f"Basic {token}"})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_deactivated_member_is_unauthenticated_on_the_next_request(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    customer = tenant[Role.CUSTOMER]
    refresh_token = (await login(api, customer.email))["refreshToken"]
    assert await me_code(api, customer.token) is None

    result = (await api.query(
        "mutation($id: ID!) { deactivateUser(input: {id: $id}) { __typename ... on UserPayload { user { status } } } }",
        {"id": customer.gid}, token=tenant[Role.ADMIN].token,
    ))["deactivateUser"]
    assert result == {"__typename": "UserPayload", "user": {"status": "DEACTIVATED"}}

    assert await me_code(api, customer.token) == "UNAUTHENTICATED"
    assert error_code(await api.raw("{ company { id } }", token=customer.token)) == "UNAUTHENTICATED"
    refreshed = await refresh(api, refresh_token)
    assert (refreshed["code"], refreshed["field"]) == ("INVALID_TOKEN", "refreshToken")
    assert refreshed["message"] == "Your access to this company has ended"
    assert await login(api, customer.email) == FAILED_LOGIN
    assert await me_code(api, tenant[Role.ADMIN].token) is None


async def test_a_membership_deactivated_in_the_database_stops_its_token_at_once(api, services):
    person = await member(api, Role.MANAGER)
    token = (await login(api, person.email))["accessToken"]
    async with services.db.transaction() as session:
        await session.execute(update(Membership).where(Membership.id == person.membership_id)
                              .values(status=MembershipStatus.DEACTIVATED.value))
    assert await me_code(api, token) == "UNAUTHENTICATED"
    async with services.db.transaction() as session:
        await session.execute(update(Membership).where(Membership.id == person.membership_id)
                              .values(status=MembershipStatus.ACTIVE.value))
    assert await me_code(api, token) is None


async def test_a_role_change_shows_on_the_next_request(api):
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER])
    manager = tenant[Role.MANAGER]
    before = (await me(api, manager.token))["permissions"]
    assert before == permission_names(api.services, Role.MANAGER)
    assert "USER_READ" in before and "USER_CREATE" in before

    result = (await api.query(
        "mutation($id: ID!) { updateUser(input: {id: $id, role: CUSTOMER}) { __typename "
        "... on UserPayload { user { role } } } }",
        {"id": manager.gid}, token=tenant[Role.ADMIN].token,
    ))["updateUser"]
    assert result == {"__typename": "UserPayload", "user": {"role": "CUSTOMER"}}

    after = await me(api, manager.token)
    assert after["permissions"] == permission_names(api.services, Role.CUSTOMER)
    assert "USER_READ" not in after["permissions"] and "COMPANY_READ" in after["permissions"]
    assert after["user"]["role"] == "CUSTOMER"
    assert error_code(await api.raw("{ users { edges { node { id } } } }", token=manager.token)) == "FORBIDDEN"


# --- refresh tokens --------------------------------------------------------------------------------

async def test_refreshing_rotates_the_pair(api, services):
    person = await member(api)
    first = await login(api, person.email)

    second = await refresh(api, first["refreshToken"])

    assert second["__typename"] == "AuthPayload"
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert (second["personId"], second["companyId"]) == (first["personId"], first["companyId"])
    assert (await me(api, second["accessToken"]))["email"] == person.email
    third = await refresh(api, second["refreshToken"])
    assert third["__typename"] == "AuthPayload"
    assert await count(services, AuthSession) == 1
    assert await count(services, RefreshToken) == 3
    assert await count(services, RefreshToken, RefreshToken.used_at.is_not(None)) == 2


async def test_reusing_a_spent_refresh_token_ends_the_whole_family(api, services):
    person = await member(api)
    first = await login(api, person.email)
    elsewhere = await login(api, person.email)  # another sign-in (another device) of the same person
    second = await refresh(api, first["refreshToken"])

    reused = await refresh(api, first["refreshToken"])

    assert reused == {
        "__typename": "MutationError", "code": "TOKEN_REUSED", "field": "refreshToken",
        "message": "This refresh token was already used; the session has been ended",
    }
    newest = await refresh(api, second["refreshToken"])
    assert (newest["code"], newest["field"]) == ("INVALID_TOKEN", "refreshToken")
    assert await me_code(api, second["accessToken"]) == "UNAUTHENTICATED"
    assert await me_code(api, first["accessToken"]) == "UNAUTHENTICATED"
    async with services.db.read_sessions() as session:
        reasons = (await session.scalars(select(AuthSession.revoked_reason).order_by(AuthSession.id))).all()
    assert reasons == ["refresh_token_reuse", None]
    # The other sign-in is another family and keeps working.
    assert await me_code(api, elsewhere["accessToken"]) is None
    assert (await refresh(api, elsewhere["refreshToken"]))["__typename"] == "AuthPayload"


@pytest.mark.parametrize("token", ["garbage", "", "x" * 500])
async def test_an_unknown_refresh_token_is_invalid(api, services, token):
    result = await refresh(api, token)
    assert result == {
        "__typename": "MutationError", "code": "INVALID_TOKEN", "field": "refreshToken",
        "message": "The refresh token is not valid",
    }
    assert await count(services, RefreshToken) == 0


async def test_an_expired_refresh_token_is_invalid(api, services):
    person = await member(api)
    first = await login(api, person.email)
    async with services.db.transaction() as session:
        await session.execute(update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    result = await refresh(api, first["refreshToken"])
    assert (result["code"], result["field"]) == ("INVALID_TOKEN", "refreshToken")
    assert await count(services, RefreshToken) == 1


# --- logout ------------------------------------------------------------------------------------------

async def test_logout_stops_the_access_and_the_refresh_token_at_once(api, services):
    person = await member(api)
    session_tokens = await login(api, person.email)
    other = await login(api, person.email)

    result = (await api.query(LOGOUT, token=session_tokens["accessToken"]))["logout"]

    assert result == {"__typename": "AcceptedPayload", "message": "Signed out"}
    assert await me_code(api, session_tokens["accessToken"]) == "UNAUTHENTICATED"
    refreshed = await refresh(api, session_tokens["refreshToken"])
    assert (refreshed["code"], refreshed["field"]) == ("INVALID_TOKEN", "refreshToken")
    assert await me_code(api, session_tokens["accessToken"]) == "UNAUTHENTICATED"
    # Only that session ended.
    assert await me_code(api, other["accessToken"]) is None
    assert await count(services, AuthSession, AuthSession.revoked_reason == "logout") == 1


async def test_logout_needs_a_valid_token(api):
    body = await api.raw(LOGOUT)
    assert error_code(body) == "UNAUTHENTICATED"
    person = await member(api)
    token = (await login(api, person.email))["accessToken"]
    await api.query(LOGOUT, token=token)
    assert error_code(await api.raw(LOGOUT, token=token)) == "UNAUTHENTICATED"


# --- several companies, operators ----------------------------------------------------------------

async def _accountant(api):
    """One person (an external accountant): manager in company A, customer in company B."""
    a_id, a_group = await create_company(api.services)
    b_id, b_group = await create_company(api.services)
    in_a = await create_member(api.services, a_id, a_group, Role.MANAGER, email="accountant@example.com")
    in_b = await create_member(api.services, b_id, b_group, Role.CUSTOMER, email="accountant@example.com")
    assert in_a.user_id == in_b.user_id
    return in_a, in_b


def _company_gid(member) -> str:
    return to_global_id("Company", member.company_id)


async def test_a_person_with_two_companies_picks_one_at_login(api):
    in_a, in_b = await _accountant(api)

    default = await login(api, "accountant@example.com")
    chosen = await login(api, "accountant@example.com", company_id=_company_gid(in_b))

    assert default["companyId"] == _company_gid(in_a)
    assert chosen["companyId"] == _company_gid(in_b)
    viewer = await me(api, chosen["accessToken"])
    assert viewer["company"]["id"] == _company_gid(in_b)
    assert viewer["user"] == {"id": in_b.gid, "role": "CUSTOMER"}
    assert [(c["company"]["id"], c["role"]) for c in viewer["companies"]] == [
        (_company_gid(in_a), "MANAGER"), (_company_gid(in_b), "CUSTOMER"),
    ]
    assert viewer["personId"] == (await me(api, default["accessToken"]))["personId"]


async def test_login_for_a_company_one_does_not_belong_to_fails_like_a_wrong_password(api, services):
    in_a, _ = await _accountant(api)
    stranger_id, _ = await create_company(services)
    assert await login(api, in_a.email, company_id=to_global_id("Company", stranger_id)) == FAILED_LOGIN
    assert await login(api, in_a.email, company_id="bm90LWFuLWlk") == FAILED_LOGIN
    assert await count(services, AuthSession) == 0


async def test_switching_company_returns_tokens_acting_for_the_other_company(api, services):
    _in_a, in_b = await _accountant(api)
    first = await login(api, "accountant@example.com")

    switched = (await api.query(SWITCH, {"companyId": _company_gid(in_b)}, token=first["accessToken"]))["switchCompany"]

    assert switched["__typename"] == "AuthPayload"
    assert switched["companyId"] == _company_gid(in_b)
    viewer = await me(api, switched["accessToken"])
    assert viewer["company"]["id"] == _company_gid(in_b)
    assert viewer["user"]["role"] == "CUSTOMER"
    assert viewer["permissions"] == permission_names(services, Role.CUSTOMER)
    # The session now acts for company B: the access token issued for company A stops at once.
    stale = await api.raw("{ me { email } }", token=first["accessToken"])
    assert stale["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The new refresh token stays with the new company.
    refreshed = await refresh(api, switched["refreshToken"])
    assert refreshed["companyId"] == _company_gid(in_b)
    # The refresh token issued for company A was spent by the switch: it yields no tokens.
    old = await refresh(api, first["refreshToken"])
    assert old["__typename"] == "MutationError" and old["code"] == "TOKEN_REUSED"
    assert await count(services, AuthSession) == 1


async def test_switching_to_a_company_one_does_not_belong_to_is_not_found(api, services):
    in_a, in_b = await _accountant(api)
    stranger_id, stranger_group = await create_company(services)
    await create_member(services, stranger_id, stranger_group, Role.ADMIN)
    first = await login(api, "accountant@example.com")
    async with services.db.transaction() as session:  # and one where the membership has ended
        await session.execute(update(Membership).where(Membership.id == in_b.membership_id)
                              .values(status=MembershipStatus.DEACTIVATED.value))
    for target in (to_global_id("Company", stranger_id), _company_gid(in_b), "garbage"):
        result = (await api.query(SWITCH, {"companyId": target}, token=first["accessToken"]))["switchCompany"]
        assert result == {
            "__typename": "MutationError", "code": "NOT_FOUND", "field": "companyId",
            "message": "You are not an active member of that company",
        }

    async with services.db.read_sessions() as session:
        assert (await session.scalar(select(AuthSession.membership_id))) == in_a.membership_id
        spent = select(func.count()).select_from(RefreshToken).where(RefreshToken.used_at.is_not(None))
        assert (await session.scalar(spent)) == 0
    assert (await me(api, first["accessToken"]))["company"]["id"] == _company_gid(in_a)
    assert (await refresh(api, first["refreshToken"]))["companyId"] == _company_gid(in_a)


async def test_switching_company_needs_a_token(api, services):
    company_id, _ = await create_company(services)
    assert error_code(await api.raw(SWITCH, {"companyId": to_global_id("Company", company_id)})) == "UNAUTHENTICATED"


async def test_an_operator_signs_in_without_a_company(api, services):
    operator = await create_operator(services)

    result = await login(api, operator.email)

    assert result["__typename"] == "AuthPayload"
    assert result["companyId"] is None
    viewer = await me(api, result["accessToken"])
    assert viewer["isOperator"] is True
    assert (viewer["company"], viewer["user"], viewer["companies"]) == (None, None, [])
    # Only the platform's own permissions, none of a company's.
    assert viewer["permissions"] == permission_names(services, OPERATOR_ROLE)
    assert "COMPANY_READ" not in viewer["permissions"] and "USER_READ" not in viewer["permissions"]
    for query in ("{ company { id } }", "{ users { edges { node { id } } } }", "{ groups { edges { node { id } } } }"):
        body = await api.raw(query, token=result["accessToken"])
        assert error_code(body) == "FORBIDDEN", query
        assert body["data"] is None
    body = await api.raw('mutation { updateCompany(input: {name: "X"}) { __typename } }', token=result["accessToken"])
    assert error_code(body) == "FORBIDDEN"
    refreshed = await refresh(api, result["refreshToken"])
    assert (refreshed["__typename"], refreshed["companyId"]) == ("AuthPayload", None)
