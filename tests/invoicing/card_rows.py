"""Company cards and their purchases and refunds written straight into the database, for the invoice run and
transactions tests (the cards' own mutations are tested with the cards)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

from sqlalchemy import select

from models import Card, CardPurchase, CardRefund

_sequence = itertools.count(1)


async def card_for(services, company_id: int, holder_membership_id: int, *, last4: str = "1234") -> int:
    async with services.db.transaction() as session:
        card = Card(company_id=company_id, holder_id=holder_membership_id, number_digest=f"digest-{next(_sequence)}",
                    last4=last4, expires_on=date(2029, 12, 31), monthly_limit_minor=50_000_00, currency="NOK")
        session.add(card)
        await session.flush()
        return card.id


async def card_purchase(services, card_id: int, amount_minor: int, at: datetime, *, vat_rate: int = 25,
                        status: str = "approved", store_reference: str = "Coop Mega Storo") -> int:
    async with services.db.transaction() as session:
        card = await session.get_one(Card, card_id)
        n = next(_sequence)
        purchase = CardPurchase(
            company_id=card.company_id, card_id=card.id, holder_id=card.holder_id, idempotency_key=f"purchase-{n}",
            request_digest=f"{n:064d}", status=status, decline_code=None if status == "approved" else "limit",
            amount_minor=amount_minor, currency="NOK", vat_rate=vat_rate, store_reference=store_reference,
            refunded_minor=0, authorized_at=at)
        session.add(purchase)
        await session.flush()
        return purchase.id


async def card_refund(services, purchase_id: int, amount_minor: int, at: datetime) -> int:
    """A refund, taken off the purchase's refundable amount as the refund mutation does."""
    async with services.db.transaction() as session:
        purchase = await session.get_one(CardPurchase, purchase_id)
        purchase.refunded_minor += amount_minor
        refund = CardRefund(purchase_id=purchase.id, company_id=purchase.company_id, amount_minor=amount_minor,
                            idempotency_key=f"refund-{next(_sequence)}", reason="Returned in store", created_at=at)
        session.add(refund)
        await session.flush()
        return refund.id


async def purchase_invoice(services, purchase_id: int) -> int | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(CardPurchase.invoice_id).where(CardPurchase.id == purchase_id))


async def refund_credit_note(services, refund_id: int) -> int | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(CardRefund.credit_note_id).where(CardRefund.id == refund_id))


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
