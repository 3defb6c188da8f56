"""A second purchasing account on an organisation number is allowed and only informs: the existing
account's administrators are emailed and it is written to their audit log; the registrant gets a
confirmation that says a new, separate account was created, and nothing about the other account.
Mail goes through the outbox in the registration's transaction and reaches a real SMTP server
(aiosmtpd) after commit."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from models import AuditEntry, MembershipStatus, OutboxMessage, Role
from schema.relay import parse_global_id
from tests.factories import PASSWORD, create_member
from tests.schema import test_mail

# Mail goes to a real SMTP server, with the fixtures of the mail tests.
smtp_server, smtp, settings, delivered = test_mail.smtp_server, test_mail.smtp, test_mail.settings, test_mail.delivered

REGISTER = """mutation($input: RegisterCompanyInput!) { registerCompany(input: $input) {
  __typename ... on RegisterCompanyPayload { company { id name } administrator { id } otherAccountsOnOrgNumber notice }
  ... on MutationError { code message field } } }"""
AUDIT = "{ auditLog(first: 50) { edges { node { entity entityId action actorId before after } } } }"
ORG_NUMBER = "974760673"


async def register(api, name: str, email: str, password: str = PASSWORD) -> dict:
    result = (
        await api.query(
            REGISTER,
            {
                "input": {
                    "country": "NO",
                    "orgNumber": ORG_NUMBER,
                    "name": name,
                    "address": {"street": "Fjordgata 1", "postalCode": "7010", "city": "Trondheim"},
                    "contactEmail": "post@fjord.no",
                    "administrator": {"email": email, "firstName": "Frida", "lastName": "Fjord", "password": password},
                }
            },
        )
    )["registerCompany"]
    return result


async def audit_log(api, email: str) -> list[dict]:
    login = await api.login(email)
    return [edge["node"] for edge in (await api.query(AUDIT, token=login["accessToken"]))["auditLog"]["edges"]]


async def test_a_second_account_informs_the_existing_administrators_and_confirms_to_the_registrant(api, services, smtp):
    first = await register(api, "Fjord Innkjøp AS", "first.admin@fjord.no")
    company_id = parse_global_id(first["company"]["id"])[1]
    group_id = await _default_group(services, company_id)
    await create_member(services, company_id, group_id, Role.ADMIN, email="second.admin@fjord.no")
    await create_member(
        services, company_id, group_id, Role.ADMIN, email="former.admin@fjord.no", status=MembershipStatus.DEACTIVATED
    )
    await create_member(services, company_id, group_id, Role.MANAGER, email="manager@fjord.no")
    [welcome] = await delivered(services, smtp, "first.admin@fjord.no")
    assert welcome["Subject"] == "Fjord Innkjøp AS is registered on Procura"
    assert "already had" not in welcome.get_content()

    second = await register(api, "Fjord Innkjøp AS avd. Bergen", "bergen@example.com")

    assert (second["__typename"], second["otherAccountsOnOrgNumber"]) == ("RegisterCompanyPayload", 1)
    notices = [
        (await delivered(services, smtp, address, count))[-1]
        for address, count in (("first.admin@fjord.no", 2), ("second.admin@fjord.no", 1))
    ]
    for notice in notices:
        assert notice["Subject"] == "A new purchasing account on organisation number 974 760 673"
        text = notice.get_content()
        assert "A new purchasing account, Fjord Innkjøp AS avd. Bergen, was registered on Procura" in text
        assert "which your account Fjord Innkjøp AS has too" in text
        assert "It was registered by Frida Fjord <bergen@example.com>." in text
    [confirmation] = await delivered(services, smtp, "bergen@example.com")
    assert confirmation["Subject"] == "Fjord Innkjøp AS avd. Bergen is registered on Procura"
    text = confirmation.get_content()
    assert (
        "A new purchasing account, Fjord Innkjøp AS avd. Bergen (organisation number 974 760 673), is registered "
        "on Procura, with you as its administrator."
    ) in text
    assert "already had 1 purchasing account(s) on Procura. Yours is a new, separate account" in text
    # Nothing that identifies the other account or its people.
    for secret in ("Fjord Innkjøp AS has", "first.admin", "second.admin", "Fjord Innkjøp AS\n", "fjord.no"):
        assert secret not in text, secret
    # Deactivated administrators and managers are not told; nobody else got mail.
    assert sorted(e.rcpt_tos[0] for e in smtp.envelopes) == [
        "bergen@example.com",
        "first.admin@fjord.no",
        "first.admin@fjord.no",
        "second.admin@fjord.no",
    ]

    registrant = await api.query("{ me { personId } }", token=(await api.login("bergen@example.com"))["accessToken"])
    entries = [e for e in await audit_log(api, "first.admin@fjord.no") if e["entity"] == "company"]
    assert entries == [
        {
            "entity": "company",
            "entityId": first["company"]["id"],  # the existing account, by its global id
            "action": "new_account_on_org_number",
            "actorId": registrant["me"]["personId"],
            "before": None,
            "after": {
                "org_number": "974 760 673",
                "new_account": "Fjord Innkjøp AS avd. Bergen",
                "registered_by": "bergen@example.com",
            },
        }
    ]
    assert [e for e in await audit_log(api, "bergen@example.com") if e["entity"] == "company"] == []


async def test_a_failed_second_registration_informs_nobody(api, services, smtp):
    await register(api, "Fjord Innkjøp AS", "first.admin@fjord.no")
    await delivered(services, smtp, "first.admin@fjord.no")
    mail_before = await _count(services, OutboxMessage)

    refused = await register(api, "Fjord Innkjøp AS avd. Bergen", "bergen@example.com", password="short")

    assert (refused["code"], refused["field"]) == ("WEAK_PASSWORD", "administrator.password")
    await asyncio.wait_for(services.mailer.drain(), timeout=10)
    assert [e.rcpt_tos for e in smtp.envelopes] == [["first.admin@fjord.no"]]
    assert await _count(services, OutboxMessage) == mail_before
    assert await _count(services, AuditEntry) == 0


async def _count(services, model) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def _default_group(services, company_id: int) -> int:
    from models import Group

    async with services.db.read_sessions() as session:
        return await session.scalar(select(Group.id).where(Group.company_id == company_id))
