"""Demo data: one company with a valid organisation number, one user per role, groups."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import Company, Group, Membership, MembershipStatus, Role, User
from resolvers.context import Services

DEMO_ORG_NUMBER = "923609016"  # a valid Norwegian organisation number (check digit verified by stdnum)
DEMO_PASSWORD = "demo-password-1"
DEMO_USERS = [
    ("admin@demo.procura.test", "Ada", "Admin", Role.ADMIN, "Administration", ["card", "invoice"]),
    ("manager@demo.procura.test", "Magnus", "Manager", Role.MANAGER, "Administration", ["card", "invoice"]),
    ("customer@demo.procura.test", "Kari", "Kunde", Role.CUSTOMER, "Home care north", ["card"]),
    ("approver@demo.procura.test", "Ola", "Approver", Role.ORDER_APPROVER, "Home care north", []),
]
DEMO_GROUPS = ["Administration", "Home care north", "Home care south"]


@dataclass
class DemoSignIn:
    email: str
    password: str
    role: str


async def load_demo_data(services: Services) -> tuple[bool, list[DemoSignIn]]:
    """Creates the demo company unless it exists; returns (created, sign-ins)."""
    sign_ins = [DemoSignIn(email, DEMO_PASSWORD, role.value) for email, *_rest in DEMO_USERS for role in [_rest[2]]]
    async with services.db.transaction() as session:
        if await session.scalar(select(User.id).where(User.email == DEMO_USERS[0][0])) is not None:
            return False, sign_ins
        company = Company(
            name="Nordlys Omsorg AS", country="NO", org_number=DEMO_ORG_NUMBER, currency="NOK",
            street="Storgata 1", postal_code="0155", city="Oslo", contact_email="post@demo.procura.test",
            contact_phone="+47 22 00 00 00",
        )
        session.add(company)
        await session.flush()
        groups = {name: Group(company_id=company.id, name=name) for name in DEMO_GROUPS}
        session.add_all(groups.values())
        await session.flush()
        password_hash = await services.passwords.hash(DEMO_PASSWORD)
        for email, first, last, role, group, methods in DEMO_USERS:
            user = User(email=email, first_name=first, last_name=last, password_hash=password_hash)
            session.add(user)
            await session.flush()
            session.add(Membership(company_id=company.id, user_id=user.id, group_id=groups[group].id, role=role.value,
                                   status=MembershipStatus.ACTIVE.value, payment_methods=methods))
        await session.flush()
    return True, sign_ins
