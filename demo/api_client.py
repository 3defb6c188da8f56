"""The demo company's API client, whose secret `procura demo-data` (and so `make run`) prints every time.

Its secret is fixed and public, like the demo accounts' passwords: it is stored as its digest like any
other, and it exists only where demo data was loaded, which is refused in production. A fixed secret is
what lets every run print one that works, although the demo data itself is loaded only once (an
earlier database gets the client on its next run). Revoking or rotating it in the demo is allowed: the
next run then says that the printed secret no longer opens anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from models import ApiClient, ApiClientSecret, ApiScope, Company, User
from models.base import utcnow
from policies.scopes import company_rows
from resolvers.api_client import secret_row
from resolvers.context import Services
from resolvers.security import token_digest

DEMO_API_CLIENT = "Demo ERP"
# Development only (see above): every scope, so that the demo shows each of them.
DEMO_API_SECRET = "prc_demo-nordlys-omsorg-development-only-0000000000"
DEMO_SCOPES = list(ApiScope)


@dataclass
class DemoApiClient:
    name: str
    secret: str
    scopes: list[str]
    usable: bool  # False once revoked, or once a rotation's overlap ended, in this database


async def ensure_demo_api_client(services: Services, org_number: str, admin_email: str) -> DemoApiClient | None:
    """The demo company's API client, created on the first run that finds the company without it; None
    when there is no demo company."""
    now = utcnow()
    async with services.db.transaction() as session:
        company = await session.scalar(select(Company).where(Company.org_number == org_number))
        if company is None:
            return None
        client = await session.scalar(company_rows(ApiClient, company).where(ApiClient.name == DEMO_API_CLIENT))
        if client is None:
            admin = await session.scalar(select(User.id).where(User.email == admin_email))
            client = ApiClient(company_id=company.id, name=DEMO_API_CLIENT, scopes=[s.value for s in DEMO_SCOPES],
                               created_by_id=admin, created_at=now)
            session.add(client)
            await session.flush()
            session.add(secret_row(client.id, DEMO_API_SECRET, now=now))
            await session.flush()
        usable = client.revoked_at is None and await session.scalar(
            select(ApiClientSecret.id).where(
                ApiClientSecret.api_client_id == client.id,
                ApiClientSecret.secret_hash == token_digest(DEMO_API_SECRET),
                or_(ApiClientSecret.expires_at.is_(None), ApiClientSecret.expires_at > now))) is not None
        return DemoApiClient(client.name, DEMO_API_SECRET, list(client.scopes), usable)
