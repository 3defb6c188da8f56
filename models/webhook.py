"""Webhook endpoints of a company, and the log of what was delivered to them.

A delivery is one event for one endpoint; its `message_id` is the Standard Webhooks `webhook-id`,
the same on every attempt and on manual redelivery, so that receivers can drop duplicates. Each
attempt is logged with its response code. Signing needs the secret itself, so it is stored (not a
digest); a rotated-out secret keeps signing alongside the new one until `previous_secret_expires_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.change import BigKey
from models.order_state import OrderEventKind


class WebhookEvent(StrEnum):
    """The events an endpoint may subscribe to, by their wire name (the payload's `type`). Each family
    of events has a source that turns its feed into deliveries: orders today (the order change feed);
    invoice events join as new members ("invoice.issued", ...) with a source of their own."""

    ORDER_SUBMITTED = "order.submitted"
    ORDER_APPROVAL_REQUESTED = "order.approval_requested"
    ORDER_APPROVED = "order.approved"
    ORDER_REJECTED = "order.rejected"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_FULFILLED = "order.fulfilled"
    ORDER_RETURNED = "order.returned"
    # Invoicing (resolvers/invoice_events.py): queued by the transaction that issues, settles or reminds.
    INVOICE_ISSUED = "invoice.issued"
    INVOICE_PAID = "invoice.paid"
    INVOICE_OVERDUE = "invoice.overdue"
    CREDIT_NOTE_ISSUED = "credit_note.issued"


# Invoice events carry an invoice: subscribing to them needs `invoice:read` as well as `webhook:manage`.
INVOICE_EVENTS = frozenset({WebhookEvent.INVOICE_ISSUED, WebhookEvent.INVOICE_PAID, WebhookEvent.INVOICE_OVERDUE,
                            WebhookEvent.CREDIT_NOTE_ISSUED})


# The timeline entries of an order that are webhook events. An approval tier decided while later tiers
# still wait (approve_step) and a warning recorded at submission are not: the order's state for the
# outside world changes only at the steps below.
ORDER_EVENTS: dict[OrderEventKind, WebhookEvent] = {
    OrderEventKind.SUBMIT: WebhookEvent.ORDER_SUBMITTED,
    OrderEventKind.REQUIRE_APPROVAL: WebhookEvent.ORDER_APPROVAL_REQUESTED,
    OrderEventKind.APPROVE: WebhookEvent.ORDER_APPROVED,
    OrderEventKind.REJECT: WebhookEvent.ORDER_REJECTED,
    OrderEventKind.CANCEL: WebhookEvent.ORDER_CANCELLED,
    OrderEventKind.FULFIL: WebhookEvent.ORDER_FULFILLED,
    OrderEventKind.RETURN: WebhookEvent.ORDER_RETURNED,
}

# Waits after each failed attempt: 8 attempts spread over 27 h 35 min, so that a receiver that is down
# for a day still gets every event (the first retry comes quickly, for a blip; the last ones are far apart).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5),
    timedelta(hours=10), timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def retry_delay(attempts_made: int) -> timedelta | None:
    """How long to wait after the `attempts_made`-th attempt failed; None when that was the last one."""
    return RETRY_DELAYS[attempts_made - 1] if 1 <= attempts_made <= len(RETRY_DELAYS) else None


def should_disable(consecutive_failures: int, delivery_failed_for_good: bool) -> bool:
    """An endpoint is disabled when a delivery has failed its whole schedule and no attempt to the endpoint
    succeeded meanwhile (every attempt for more than a day failed): not after a short outage, however many
    events it failed."""
    return delivery_failed_for_good and consecutive_failures >= MAX_ATTEMPTS


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # an attempt is due or scheduled
    SUCCEEDED = "succeeded"  # a 2xx answer
    FAILED = "failed"  # every scheduled attempt failed (or the endpoint was disabled meanwhile)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_api_client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "change_id", name="uq_webhook_deliveries_endpoint_change"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_created_at", "created_at"),  # the log's retention (resolvers/webhook_delivery.py)
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    change_id: Mapped[int | None] = mapped_column(BigInteger)  # the order change it reports, when one
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    response_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
