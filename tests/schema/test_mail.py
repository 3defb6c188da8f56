"""Emailed links end to end, delivered to a real SMTP server (aiosmtpd on 127.0.0.1):
welcome (set password), invitation, password reset; the outbox without SMTP; no mail for
a mutation that fails."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from models import LinkToken, Membership, OutboxMessage, Role, User
from models.base import utcnow
from resolvers.security import token_digest
from schema.relay import to_global_id
from tests.conftest import test_settings as make_settings
from tests.factories import PASSWORD, Api, create_company, create_member, error_code

PUBLIC_URL = "https://procura.example"
NEW_PASSWORD = "a-brand-new-passphrase"

CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) {
  __typename
  ... on UserPayload { user { id email firstName lastName role status } }
  ... on MutationError { code message field }
} }"""

INVITE_USER = """
mutation($input: InviteUserInput!) { inviteUser(input: $input) {
  __typename
  ... on UserPayload { user { id email firstName lastName role status } }
  ... on MutationError { code message field }
} }"""

ACCEPT_INVITATION = """
mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) {
  __typename
  ... on UserPayload { user { id email firstName lastName role status } }
  ... on MutationError { code message field }
} }"""

RESET_PASSWORD = """
mutation($token: String!, $password: String!) { resetPassword(input: {token: $token, newPassword: $password}) {
  __typename ... on AcceptedPayload { message } ... on MutationError { code message field }
} }"""

REQUEST_RESET = """
mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
  __typename ... on AcceptedPayload { message } ... on MutationError { code message field }
} }"""

INVALID_LINK = {
    "__typename": "MutationError", "code": "INVALID_TOKEN", "field": "token",
    "message": "This link is invalid, already used or expired; ask for a new one",
}
PASSWORD_CHANGED = {"__typename": "AcceptedPayload", "message": "Password changed; sign in with the new password"}
RESET_ACCEPTED = {"__typename": "AcceptedPayload",
                  "message": "If the address has an account, a reset link is on its way"}


# --- a real SMTP server ----------------------------------------------------------------------------

class Collector:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(e.content, policy=email_policy.default) for e in self.envelopes]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m, e in zip(self.messages, self.envelopes, strict=True) if e.rcpt_tos == [address]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def smtp_server():
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp(smtp_server) -> Collector:
    smtp_server.handler.envelopes.clear()
    return smtp_server.handler


@pytest.fixture
def settings(database_url, smtp_server):
    """Overrides conftest's: this module's app delivers through the local SMTP server."""
    return make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}", public_url=PUBLIC_URL)


# --- helpers --------------------------------------------------------------------------------------

async def delivered(services, smtp: Collector, address: str, count: int = 1) -> list[EmailMessage]:
    """Wait (bounded) until `count` messages reached `address` through SMTP."""
    await asyncio.wait_for(services.mailer.drain(), timeout=10)
    for _ in range(100):
        if len(smtp.to(address)) >= count:
            break
        await asyncio.sleep(0.02)
    messages = smtp.to(address)
    assert len(messages) == count, [m["To"] for m in smtp.messages]
    return messages


def link_token(message: EmailMessage, path: str) -> str:
    body = message.get_content()
    match = re.search(rf"{re.escape(PUBLIC_URL)}/{path}\?token=([A-Za-z0-9_-]+)\s", body)
    assert match, body
    return match.group(1)


async def admin_of(api: Api, company_name: str = "Blåbær Innkjøp AS"):
    company_id, group_id = await create_company(api.services, name=company_name)
    admin = await create_member(api.services, company_id, group_id, Role.ADMIN)
    await api.token_for(admin)
    return admin, to_global_id("Group", group_id)


async def create_user(api: Api, admin, group_gid: str, email: str = "new.buyer@example.com") -> dict:
    variables = {"input": {"firstName": "Nora", "lastName": "Nilsen", "email": email, "groupId": group_gid,
                           "role": "CUSTOMER", "paymentMethods": ["CARD"]}}
    return (await api.query(CREATE_USER, variables, token=admin.token))["createUser"]


async def invite_user(api: Api, admin, group_gid: str, email: str = "invitee@example.com",
                      role: str = "ORDER_APPROVER") -> dict:
    variables = {"input": {"email": email, "groupId": group_gid, "role": role}}
    return (await api.query(INVITE_USER, variables, token=admin.token))["inviteUser"]


async def reset_password(api: Api, token: str, password: str = NEW_PASSWORD) -> dict:
    return (await api.query(RESET_PASSWORD, {"token": token, "password": password}))["resetPassword"]


async def accept(api: Api, token: str, password: str = NEW_PASSWORD, first: str = "Ida",
                 last: str = "Invitert") -> dict:
    variables = {"input": {"token": token, "firstName": first, "lastName": last, "password": password}}
    return (await api.query(ACCEPT_INVITATION, variables))["acceptInvitation"]


async def outbox(services) -> list[OutboxMessage]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def password_hash(services, email: str) -> str | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(User.password_hash).where(User.email == email))


async def expire_links(services) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(LinkToken).values(expires_at=utcnow() - timedelta(seconds=1)))


# --- createUser: welcome link ------------------------------------------------------------------------

async def test_a_created_user_gets_a_set_password_link_by_smtp(api, services, smtp):
    admin, group = await admin_of(api)

    result = await create_user(api, admin, group)

    assert result["__typename"] == "UserPayload"
    assert result["user"]["status"] == "ACTIVE"
    [message] = await delivered(services, smtp, "new.buyer@example.com")
    assert message["To"] == "new.buyer@example.com"
    assert message["From"] == "Procura <no-reply@procura.local>"
    assert message["Subject"] == "Welcome to Blåbær Innkjøp AS on Procura"
    assert "Hello Nora Nilsen," in message.get_content()
    assert "valid 24 hours, once" in message.get_content()
    token = link_token(message, "set-password")
    [row] = await outbox(services)
    assert (row.recipient, row.transport, row.attempts, row.last_error) == ("new.buyer@example.com", "smtp", 1, None)
    assert row.sent_at is not None
    assert [link.token_hash for link in await _links(services)] == [token_digest(token)]  # only a digest is stored

    # No password yet: the account cannot sign in until the link is used.
    assert (await api.login("new.buyer@example.com", PASSWORD))["code"] == "INVALID_CREDENTIALS"
    assert await reset_password(api, token) == PASSWORD_CHANGED
    login = await api.login("new.buyer@example.com", NEW_PASSWORD)
    assert login["__typename"] == "AuthPayload"
    me = await api.query("{ me { user { id role } } }", token=login["accessToken"])
    assert me["me"]["user"] == {"id": result["user"]["id"], "role": "CUSTOMER"}


async def _links(services) -> list[LinkToken]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(LinkToken))).all())


async def test_a_set_password_link_works_once(api, services, smtp):
    admin, group = await admin_of(api)
    await create_user(api, admin, group)
    token = link_token((await delivered(services, smtp, "new.buyer@example.com"))[0], "set-password")
    assert await reset_password(api, token) == PASSWORD_CHANGED
    first_hash = await password_hash(services, "new.buyer@example.com")

    again = await reset_password(api, token, "someone-elses-password")

    assert again == INVALID_LINK
    assert await password_hash(services, "new.buyer@example.com") == first_hash
    assert (await api.login("new.buyer@example.com", NEW_PASSWORD))["__typename"] == "AuthPayload"


async def test_an_expired_set_password_link_is_invalid(api, services, smtp):
    admin, group = await admin_of(api)
    await create_user(api, admin, group)
    token = link_token((await delivered(services, smtp, "new.buyer@example.com"))[0], "set-password")
    await expire_links(services)

    assert await reset_password(api, token) == INVALID_LINK
    assert await password_hash(services, "new.buyer@example.com") is None
    async with services.db.read_sessions() as session:
        assert await session.scalar(select(LinkToken.used_at)) is None


async def test_a_weak_new_password_keeps_the_link_usable(api, services, smtp):
    admin, group = await admin_of(api)
    await create_user(api, admin, group)
    token = link_token((await delivered(services, smtp, "new.buyer@example.com"))[0], "set-password")

    weak = await reset_password(api, token, "short")

    assert (weak["code"], weak["field"]) == ("WEAK_PASSWORD", "newPassword")
    assert await password_hash(services, "new.buyer@example.com") is None
    assert await reset_password(api, token) == PASSWORD_CHANGED


@pytest.mark.parametrize("token", ["", "garbage", "x" * 43])
async def test_an_unknown_link_token_is_invalid(api, token):
    assert await reset_password(api, token) == INVALID_LINK


# --- inviteUser / acceptInvitation -----------------------------------------------------------------

async def test_an_invited_person_accepts_with_names_and_password(api, services, smtp):
    admin, group = await admin_of(api)

    invited = await invite_user(api, admin, group)

    assert invited["__typename"] == "UserPayload"
    assert invited["user"] == {"id": invited["user"]["id"], "email": "invitee@example.com", "firstName": "",
                               "lastName": "", "role": "ORDER_APPROVER", "status": "INVITED"}
    [message] = await delivered(services, smtp, "invitee@example.com")
    assert message["Subject"] == "You are invited to Blåbær Innkjøp AS on Procura"
    assert "as order approver" in message.get_content()
    token = link_token(message, "accept-invitation")
    assert (await api.login("invitee@example.com", NEW_PASSWORD))["code"] == "INVALID_CREDENTIALS"

    accepted = await accept(api, token)

    assert accepted["__typename"] == "UserPayload"
    assert accepted["user"] == {"id": invited["user"]["id"], "email": "invitee@example.com", "firstName": "Ida",
                                "lastName": "Invitert", "role": "ORDER_APPROVER", "status": "ACTIVE"}
    login = await api.login("invitee@example.com", NEW_PASSWORD)
    assert login["__typename"] == "AuthPayload"
    me = await api.query("{ me { user { id status } } }", token=login["accessToken"])
    assert me["me"]["user"] == {"id": invited["user"]["id"], "status": "ACTIVE"}

    reused = await accept(api, token, password="another-passphrase", first="Mallory")
    assert reused == INVALID_LINK
    assert (await api.login("invitee@example.com", NEW_PASSWORD))["__typename"] == "AuthPayload"


async def test_an_expired_invitation_is_invalid(api, services, smtp):
    admin, group = await admin_of(api)
    await invite_user(api, admin, group)
    token = link_token((await delivered(services, smtp, "invitee@example.com"))[0], "accept-invitation")
    await expire_links(services)

    assert await accept(api, token) == INVALID_LINK
    async with services.db.read_sessions() as session:
        assert await session.scalar(select(Membership.status).where(Membership.role == "order_approver")) == "invited"


async def test_a_weak_password_does_not_spend_the_invitation(api, services, smtp):
    admin, group = await admin_of(api)
    await invite_user(api, admin, group)
    token = link_token((await delivered(services, smtp, "invitee@example.com"))[0], "accept-invitation")

    weak = await accept(api, token, password="aaaaaaaaaaaa")

    assert (weak["code"], weak["field"]) == ("WEAK_PASSWORD", "password")
    assert await password_hash(services, "invitee@example.com") is None
    assert (await accept(api, token))["user"]["status"] == "ACTIVE"


async def test_a_person_with_an_account_accepts_with_their_existing_password(api, services, smtp):
    other_company, other_group = await create_company(services)
    existing = await create_member(services, other_company, other_group, Role.ADMIN, email="known@example.com")
    admin, group = await admin_of(api)
    invited = await invite_user(api, admin, group, email="known@example.com", role="CUSTOMER")
    token = link_token((await delivered(services, smtp, "known@example.com"))[0], "accept-invitation")

    wrong = await accept(api, token, password="not-my-password")
    assert (wrong["code"], wrong["field"]) == ("INVALID_CREDENTIALS", "password")
    accepted = await accept(api, token, password=existing.password, first="Ignored", last="Names")

    assert accepted["__typename"] == "UserPayload"
    assert accepted["user"]["status"] == "ACTIVE"
    assert (accepted["user"]["firstName"], accepted["user"]["lastName"]) == ("Test", "Admin")
    login = await api.login("known@example.com", existing.password)
    companies = await api.query("{ me { companies { role } } }", token=login["accessToken"])
    assert [c["role"] for c in companies["me"]["companies"]] == ["ADMIN", "CUSTOMER"]
    assert invited["user"]["id"] == accepted["user"]["id"]


# --- requestPasswordReset ----------------------------------------------------------------------------

async def test_a_reset_request_answers_the_same_for_unknown_addresses_and_mails_only_real_ones(api, services, smtp):
    company_id, group_id = await create_company(services)
    person = await create_member(services, company_id, group_id, Role.CUSTOMER, email="forgetful@example.com")
    old_session = await api.login(person.email)

    known = (await api.query(REQUEST_RESET, {"email": "Forgetful@Example.com"}))["requestPasswordReset"]
    unknown = (await api.query(REQUEST_RESET, {"email": "nobody@example.com"}))["requestPasswordReset"]

    assert known == unknown == RESET_ACCEPTED
    [message] = await delivered(services, smtp, "forgetful@example.com")
    assert len(smtp.envelopes) == 1
    assert [row.recipient for row in await outbox(services)] == ["forgetful@example.com"]
    assert message["Subject"] == "Reset your Procura password"
    token = link_token(message, "reset-password")

    assert await reset_password(api, token) == PASSWORD_CHANGED

    assert (await api.login(person.email, PASSWORD))["code"] == "INVALID_CREDENTIALS"
    assert (await api.login(person.email, NEW_PASSWORD))["__typename"] == "AuthPayload"
    # Resetting the password ends every earlier session.
    assert error_code(await api.raw("{ me { email } }", token=old_session["accessToken"])) == "UNAUTHENTICATED"
    assert await reset_password(api, token, "yet-another-passphrase") == INVALID_LINK


async def test_a_newer_reset_link_replaces_the_older_one(api, services, smtp):
    company_id, group_id = await create_company(services)
    await create_member(services, company_id, group_id, Role.CUSTOMER, email="forgetful@example.com")
    await api.query(REQUEST_RESET, {"email": "forgetful@example.com"})
    [first] = await delivered(services, smtp, "forgetful@example.com")
    await api.query(REQUEST_RESET, {"email": "forgetful@example.com"})
    second = (await delivered(services, smtp, "forgetful@example.com", count=2))[1]
    assert link_token(first, "reset-password") != link_token(second, "reset-password")

    assert await reset_password(api, link_token(first, "reset-password")) == INVALID_LINK
    assert await reset_password(api, link_token(second, "reset-password")) == PASSWORD_CHANGED


async def test_an_expired_reset_link_is_invalid(api, services, smtp):
    company_id, group_id = await create_company(services)
    await create_member(services, company_id, group_id, Role.CUSTOMER, email="forgetful@example.com")
    await api.query(REQUEST_RESET, {"email": "forgetful@example.com"})
    token = link_token((await delivered(services, smtp, "forgetful@example.com"))[0], "reset-password")
    before = await password_hash(services, "forgetful@example.com")
    await expire_links(services)

    assert await reset_password(api, token) == INVALID_LINK
    assert await password_hash(services, "forgetful@example.com") == before


# --- failures send nothing ---------------------------------------------------------------------------

async def test_a_failed_create_user_sends_no_mail_and_writes_no_outbox_row(api, services, smtp):
    admin, group = await admin_of(api)
    company_id, group_id = await create_company(services)
    await create_member(services, company_id, group_id, Role.CUSTOMER, email="taken@example.com")

    result = await create_user(api, admin, group, email="taken@example.com")

    assert (result["code"], result["field"]) == ("EMAIL_TAKEN", "email")
    await asyncio.wait_for(services.mailer.drain(), timeout=10)
    assert smtp.envelopes == []
    assert await outbox(services) == []
    async with services.db.read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LinkToken)) == 0
        assert await session.scalar(select(func.count()).select_from(Membership)) == 2


async def test_a_forbidden_create_user_sends_no_mail(api, services, smtp):
    tenant = await api.tenant([Role.CUSTOMER])
    body = await api.raw(CREATE_USER, {"input": {
        "firstName": "A", "lastName": "B", "email": "x@example.com", "groupId": tenant.group_gid, "role": "CUSTOMER",
    }}, token=tenant[Role.CUSTOMER].token)
    assert error_code(body) == "FORBIDDEN"
    await asyncio.wait_for(services.mailer.drain(), timeout=10)
    assert smtp.envelopes == []
    assert await outbox(services) == []


# --- without SMTP: the outbox and the log -------------------------------------------------------------

class TestWithoutSmtp:
    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, smtp_url=None, public_url=PUBLIC_URL)

    async def test_messages_land_in_the_outbox_with_transport_log(self, api, services, smtp):
        admin, group = await admin_of(api)
        await create_user(api, admin, group)
        await invite_user(api, admin, group)
        await api.query(REQUEST_RESET, {"email": admin.email})
        await asyncio.wait_for(services.mailer.drain(), timeout=10)

        rows = await outbox(services)
        assert [(r.recipient, r.transport, r.attempts, r.last_error) for r in rows] == [
            ("new.buyer@example.com", "log", 1, None),
            ("invitee@example.com", "log", 1, None),
            (admin.email, "log", 1, None),
        ]
        assert all(r.sent_at is not None for r in rows)
        assert [r.subject for r in rows] == [
            "Welcome to Blåbær Innkjøp AS on Procura", "You are invited to Blåbær Innkjøp AS on Procura",
            "Reset your Procura password",
        ]
        assert f"{PUBLIC_URL}/set-password?token=" in rows[0].body
        assert smtp.envelopes == []  # nothing went to the SMTP server

        # The logged link works like a mailed one.
        token = re.search(r"set-password\?token=([A-Za-z0-9_-]+)", rows[0].body).group(1)
        assert await reset_password(api, token) == PASSWORD_CHANGED


class TestSmtpDown:
    """A message that could not be delivered stays pending with its error and goes out on a retry."""

    @pytest.fixture
    def port(self) -> int:
        return free_port()

    @pytest.fixture
    def settings(self, database_url, port):
        return make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{port}", public_url=PUBLIC_URL)

    async def test_a_failed_delivery_is_kept_and_retried(self, api, services, port):
        admin, group = await admin_of(api)

        result = await create_user(api, admin, group)

        assert result["__typename"] == "UserPayload"  # the mutation does not wait for, or fail with, the mail
        await asyncio.wait_for(services.mailer.drain(), timeout=20)
        [row] = await outbox(services)
        assert (row.sent_at, row.transport, row.attempts) == (None, None, 1)
        assert row.last_error

        handler = Collector()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert await services.mailer.deliver() == 1
        finally:
            controller.stop()
        [row] = await outbox(services)
        assert (row.transport, row.attempts, row.last_error) == ("smtp", 2, None)
        assert [e.rcpt_tos for e in handler.envelopes] == [["new.buyer@example.com"]]
        assert await services.mailer.deliver() == 0
