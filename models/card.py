"""Company cards (Bedriftskort): up to ten live cards per account sharing its credit, each with a holder, a monthly
limit and a PIN; purchases authorised in the supplier's stores, refunds, and each card's spend per month.

Only the last four digits and a keyed digest of a card's number are kept; the PIN only as an argon2 hash.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class CardStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class CardBlockReason(StrEnum):
    """Why a card is blocked, which says who may lift the block: the holder or an administrator their own blocks
    (an administrator any but PIN and misuse), only a platform operator a PIN block."""

    HOLDER = "holder"
    ADMINISTRATOR = "administrator"
    PIN = "pin"  # three wrong PINs in a row
    MISUSE = "misuse"  # the holder's access was blocked on suspected misuse
    OPERATOR = "operator"


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("number_digest", name="uq_cards_number_digest"),
        Index("ix_cards_company_status", "company_id", "status"),
        Index("ix_cards_holder", "holder_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    # Keyed digest (HMAC-SHA256 under a key derived from the installation's secret) of the full card number: a
    # purchase finds its card by it, and a stolen database does not give the numbers.
    number_digest: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    expires_on: Mapped[date] = mapped_column(Date)
    monthly_limit_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=CardStatus.ACTIVE.value)
    block_reason: Mapped[str | None] = mapped_column(String(20))
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    blocked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    pin_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_pin_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CardMonthlySpend(Base):
    """What a card spent in one calendar month (UTC): taken with a conditional update at authorisation."""

    __tablename__ = "card_monthly_spend"

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the month's first day
    spent_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class CardPurchaseStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


class CardPurchase(Base):
    """One authorisation request from a store, approved or declined; the same idempotency key gets the same
    answer (the request's digest tells a retry from a different request reusing the key)."""

    __tablename__ = "card_purchases"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_card_purchases_idempotency_key"),
        Index("ix_card_purchases_company_at", "company_id", "authorized_at", "id"),
        Index("ix_card_purchases_holder_at", "holder_id", "authorized_at", "id"),
        Index("ix_card_purchases_card_at", "card_id", "authorized_at", "id"),
        # What the invoice run picks up: approved purchases on no invoice yet.
        Index("ix_card_purchases_to_invoice", "company_id", "id",
              sqlite_where=text("status = 'approved' AND invoice_id IS NULL"),
              postgresql_where=text("status = 'approved' AND invoice_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))  # None: no card has that number
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    request_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    decline_code: Mapped[str | None] = mapped_column(String(40))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    vat_rate: Mapped[int] = mapped_column(Integer, default=25)
    store_reference: Mapped[str] = mapped_column(String(100))
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    authorized_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    authorized_by_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id", ondelete="SET NULL"))
    authorized_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CardRefund(Base):
    """Money given back on an approved purchase (at most what is left of it); credited on the next credit note
    when the purchase was invoiced, netted on its invoice otherwise."""

    __tablename__ = "card_refunds"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_card_refunds_idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("card_purchases.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500), default="")
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
