"""Companies: a buying organisation identified by a verified organisation number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import ModuleType

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column
from stdnum import exceptions as stdnum_errors
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from models.base import Base, UTCDateTime, utcnow
from models.errors import DomainError, ErrorCode


class Country(StrEnum):
    NO = "NO"
    SE = "SE"


@dataclass(frozen=True)
class OrgNumberRule:
    """How one country's organisation numbers are checked, and how the API names them in its errors."""

    validator: ModuleType  # a python-stdnum module: compact(), validate() and format()
    adjective: str
    digits: int

    def error(self, exc: stdnum_errors.ValidationError, compact: str) -> str:
        """The API's own words for a refused number, by what is wrong with it: only the kind of
        python-stdnum's exception is read, never its text. The input is not repeated back."""
        name = f"A {self.adjective} organisation number"
        if not compact:
            return f"The organisation number is required ({self.digits} digits)"
        if isinstance(exc, stdnum_errors.InvalidLength):
            return f"{name} has {self.digits} digits; this one has {len(compact)}"
        if isinstance(exc, stdnum_errors.InvalidFormat):
            return f"{name} has digits only ({self.digits} of them; spaces, dashes and dots may separate them)"
        if isinstance(exc, stdnum_errors.InvalidChecksum):
            return (f"The check digit does not match: this is not a valid {self.adjective} organisation number "
                    "(look for a mistyped or swapped digit)")
        return f"This is not a valid {self.adjective} organisation number"


ORG_NUMBER_RULES = {
    Country.NO: OrgNumberRule(no_orgnr, "Norwegian", 9),
    Country.SE: OrgNumberRule(se_orgnr, "Swedish", 10),
}
CURRENCY_BY_COUNTRY = {Country.NO: "NOK", Country.SE: "SEK"}
# Days to pay an invoice unless the company has its own terms: 32 in Norway, 30 in Sweden (source documents 000, 001).
PAYMENT_TERMS_BY_COUNTRY = {Country.NO: 32, Country.SE: 30}
DEFAULT_INVOICE_DAYS = (1, 15)


def validate_org_number(country: Country, raw: str) -> str:
    """Return the compact organisation number or raise INVALID_ORG_NUMBER."""
    rule = ORG_NUMBER_RULES.get(country)
    if rule is None:
        raise DomainError(ErrorCode.UNSUPPORTED_COUNTRY, "Companies of this country are not served", "country")
    cleaned = raw.replace("-", "").replace(".", "")
    try:
        return rule.validator.validate(cleaned)
    except stdnum_errors.ValidationError as exc:
        message = rule.error(exc, rule.validator.compact(cleaned))
        raise DomainError(ErrorCode.INVALID_ORG_NUMBER, message, "orgNumber") from exc


def format_org_number(country: Country, compact: str) -> str:
    return ORG_NUMBER_RULES[country].validator.format(compact)


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
    # Invoicing settings: the days of the month invoices are issued, and days to pay (None: the country's default).
    invoice_days: Mapped[list[int]] = mapped_column(JSON, default=lambda: list(DEFAULT_INVOICE_DAYS),
                                                    server_default=text("'[1, 15]'"))
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    # Hours a current approval step waits before it reminds its approvers (None: the installation's setting).
    approval_reminder_hours: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def payment_terms_days(company: Company) -> int:
    return company.payment_terms_days or PAYMENT_TERMS_BY_COUNTRY[Country(company.country)]
