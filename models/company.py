"""Companies: a buying organisation identified by a verified organisation number."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column
from stdnum import exceptions as stdnum_errors
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from models.base import Base, UTCDateTime, utcnow
from models.errors import DomainError, ErrorCode


class Country(StrEnum):
    NO = "NO"
    SE = "SE"


_ORGNR_VALIDATORS = {Country.NO: no_orgnr, Country.SE: se_orgnr}
CURRENCY_BY_COUNTRY = {Country.NO: "NOK", Country.SE: "SEK"}


def validate_org_number(country: Country, raw: str) -> str:
    """Return the compact organisation number or raise INVALID_ORG_NUMBER."""
    validator = _ORGNR_VALIDATORS.get(country)
    if validator is None:
        raise DomainError(ErrorCode.UNSUPPORTED_COUNTRY, f"Country {country} is not supported", "country")
    try:
        return validator.validate(raw.replace("-", "").replace(".", ""))
    except stdnum_errors.ValidationError as exc:
        raise DomainError(
            ErrorCode.INVALID_ORG_NUMBER,
            f"{raw!r} is not a valid {country.value} organisation number: {exc}",
            "orgNumber",
        ) from exc


def format_org_number(country: Country, compact: str) -> str:
    return _ORGNR_VALIDATORS[country].format(compact)


class Company(Base):
    __tablename__ = "companies"
    __table_args__ = (Index("ix_companies_country_org_number", "country", "org_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    org_number: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    street: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    contact_email: Mapped[str] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    # How orders placed on behalf of end customers are paid; set for the company, not by the buyer.
    order_payment_method: Mapped[str] = mapped_column(String(20), default="card", server_default="card")
    # Set when the platform operator approves the company's application for invoice payment.
    invoice_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
