"""API clients: machine credentials of a company for integrators (ERP, bookkeeping, the supplier).

A client is a subject of the Casbin policy whose scopes are its roles. Its secrets are stored as
SHA-256 digests: they are 256-bit random values, so a slow password hash would add nothing but
latency to every request. Rotation adds a secret and gives the old one an expiry (the overlap).
The rate-limit bucket lives on the client row, so every server process draws on the same one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

SECRET_PREFIX = "prc_"


class ApiScope(StrEnum):
    """What a client may do; each is a role of the Casbin policy ("scope:orders_read")."""

    ORDERS_READ = "orders_read"
    INVOICES_READ = "invoices_read"
    CATALOGUE_READ = "catalogue_read"
    WEBHOOKS_MANAGE = "webhooks_manage"

    @property
    def policy_role(self) -> str:
        return f"scope:{self.value}"


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Rate-limit bucket, in thousandths of a cost point, as of `bucket_at_ms` (milliseconds since the epoch).
    bucket_milli: Mapped[int | None] = mapped_column(BigInteger)
    bucket_at_ms: Mapped[int | None] = mapped_column(BigInteger)


class ApiClientSecret(Base):
    __tablename__ = "api_client_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret ("prc_Ab3x"), to tell secrets apart in lists and logs.
    hint: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
