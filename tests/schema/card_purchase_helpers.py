"""Helpers for the card purchase tests: cards inserted directly (number, digest, PIN hash), the two mutations and
the list as one-liners, and direct reads of the guarded rows."""

from __future__ import annotations

import itertools
import uuid
from datetime import date

from sqlalchemy import select

from models import Card, CardMonthlySpend, CreditAccount, MemberMonthlySpend
from models.base import utcnow
from resolvers.card_number import card_expiry, card_number_digest, new_card_number
from resolvers.card_purchase import month_of
from schema.relay import to_global_id
from tests.factories import Api, error_code

PIN = "4321"
_sequence = itertools.count(1)

PURCHASE = """id cardId cardLast4 holderId holderName amount { amount currency } vatRate status declineCode message
  storeReference authorizedAt refunded { amount } refundable { amount } invoiced"""
AUTHORIZE = f"""__typename ... on CardAuthorizationPayload {{ purchase {{ {PURCHASE} }}
  remainingThisMonth {{ amount }} pinAttemptsLeft replayed }}
  ... on MutationError {{ code message field }}"""
REFUND = f"""__typename ... on CardRefundPayload {{ refund {{ id amount {{ amount }} reason }} purchase {{ {PURCHASE} }}
  replayed }} ... on MutationError {{ code message field }}"""
LIST = f"""query($filter: CardPurchaseFilter, $first: Int!, $after: String) {{
  cardPurchases(filter: $filter, first: $first, after: $after) {{
    edges {{ cursor node {{ {PURCHASE} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


async def insert_card(services, company_id: int, holder_id: int, *, monthly_limit_minor: int = 10_000_00,
                      pin: str | None = PIN, status: str = "active", block_reason: str | None = None,
                      expires_on: date | None = None, failed_pin_attempts: int = 0) -> tuple[int, str]:
    """A card of the holder; returns (card id, its full number)."""
    number = new_card_number(services.settings)
    async with services.db.transaction() as session:
        card = Card(company_id=company_id, holder_id=holder_id,
                    number_digest=card_number_digest(services.settings, number), last4=number[-4:],
                    expires_on=expires_on or card_expiry(utcnow().date()), monthly_limit_minor=monthly_limit_minor,
                    currency="NOK", status=status, block_reason=block_reason,
                    pin_hash=await services.passwords.hash(pin) if pin else None,
                    failed_pin_attempts=failed_pin_attempts)
        session.add(card)
        await session.flush()
        return card.id, number


def key() -> str:
    return f"card-{uuid.uuid4().hex}"


async def authorize(api: Api, token: str | None, number: str, amount: str, *, pin: str = PIN,
                    idempotency_key: str | None = None, store: str | None = None, vat_rate: int | None = None) -> dict:
    """The authorizeCardPurchase answer (payload or MutationError dict; GraphQLError with its code)."""
    data: dict[str, str | int] = {
        "cardNumber": number, "pin": pin, "amount": amount, "storeReference": store or f"Store {next(_sequence)}",
        "idempotencyKey": idempotency_key or key()}
    if vat_rate is not None:
        data["vatRate"] = vat_rate
    body = await api.mutate("authorizeCardPurchase", "AuthorizeCardPurchaseInput", AUTHORIZE, data, token)
    if body.get("errors"):
        return {"__typename": "GraphQLError", "code": error_code(body)}
    return body["data"]["authorizeCardPurchase"]


async def refund(api: Api, token: str | None, purchase_id: str, amount: str, *, idempotency_key: str | None = None,
                 reason: str = "Returned") -> dict:
    data = {"purchaseId": purchase_id, "amount": amount, "idempotencyKey": idempotency_key or key(), "reason": reason}
    body = await api.mutate("refundCardPurchase", "RefundCardPurchaseInput", REFUND, data, token)
    if body.get("errors"):
        return {"__typename": "GraphQLError", "code": error_code(body)}
    return body["data"]["refundCardPurchase"]


async def list_purchases(api: Api, token: str, filter: dict | None = None, first: int = 50,
                         after: str | None = None) -> dict:
    body = await api.raw(LIST, {"filter": filter, "first": first, "after": after}, token)
    if body.get("errors"):
        return {"__typename": "GraphQLError", "code": error_code(body)}
    return body["data"]["cardPurchases"]


def outcome(result: dict) -> str:
    """APPROVED, a decline code in upper case, or the error's code."""
    if result["__typename"] == "CardAuthorizationPayload":
        purchase = result["purchase"]
        return "APPROVED" if purchase["status"] == "APPROVED" else purchase["declineCode"]
    return result["code"]


async def card_state(services, card_id: int) -> tuple[str, str | None, int, int]:
    """(status, block reason, failed PIN attempts, spent this month)."""
    async with services.db.read_sessions() as session:
        card = await session.get(Card, card_id)
        spent = await session.scalar(select(CardMonthlySpend.spent_minor).where(
            CardMonthlySpend.card_id == card_id, CardMonthlySpend.month == month_of(utcnow())))
        return card.status, card.block_reason, card.failed_pin_attempts, spent or 0


async def member_month(services, membership_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(MemberMonthlySpend.committed_minor).where(
            MemberMonthlySpend.membership_id == membership_id,
            MemberMonthlySpend.month_start == month_of(utcnow()))) or 0


async def outstanding(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(CreditAccount.outstanding_minor).where(
            CreditAccount.company_id == company_id)) or 0


def card_gid(card_id: int) -> str:
    return to_global_id("Card", card_id)


async def world_card_purchases(w) -> None:
    """The role matrix's card purchases (tests/policies/world.py): on each company a card of its target customer
    with a known number and PIN, and one approved purchase on it, authorised by the platform operator."""
    from policies.actor import Actor
    from resolvers.card_purchase import authorize_card_purchase
    from resolvers.context import UseCaseContext

    services, op = w.services, w.catalogue.operator
    for side in (w.own, w.other):
        card_id, number = await insert_card(services, side.company_id, side.target.membership_id)
        side.values["purchase_card"], side.values["card_number"] = card_id, number
        async with services.db.write_sessions() as session:
            await session.begin()
            ctx = UseCaseContext(services=services, session=session,
                                 actor=Actor(op.user_id, 0, None, None, None, frozenset(), True))
            authorized = await authorize_card_purchase(ctx, card_number=number, pin=PIN, amount_minor=10_00,
                                                       store_reference="Matrix store", idempotency_key=key())
            await session.commit()
        side.values["card_purchase"] = authorized.purchase.id
