"""Company card purchases in the supplier's stores: `authorizeCardPurchase`, `refundCardPurchase`, `cardPurchases`
and the CardPurchase node."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.card import CardPurchaseStatus as DomainStatus
from models.errors import DomainError, ErrorCode
from models.money import parse_amount
from resolvers import card_purchase as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.relay import (
    Connection,
    Edge,
    Node,
    connection_of,
    decode_id,
    from_keyset_cursor,
    optional_id,
    to_global_id,
    to_keyset_cursor,
)


@strawberry.enum(description="Whether a store's request was approved.")
class CardPurchaseStatus(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    APPROVED = strawberry.enum_value("approved", description=(
        "Approved: the amount is taken from the card's month, the holder's month and the account's credit."))
    DECLINED = strawberry.enum_value("declined", description="Declined (see declineCode); nothing was taken.")


@strawberry.enum(description="Why a card purchase was declined.")
class CardDeclineCode(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    UNKNOWN_CARD = strawberry.enum_value("unknown_card", description="No card has this number.")
    CARD_BLOCKED = strawberry.enum_value(
        "card_blocked", description="The card is blocked (by its holder, an administrator or the platform).")
    CARD_BLOCKED_PIN = strawberry.enum_value("card_blocked_pin", description=(
        "The card is blocked after three wrong PINs in a row: this request's wrong PIN was the third, or the card "
        "was blocked so before. Only a platform operator lifts the block."))
    CARD_CANCELLED = strawberry.enum_value("card_cancelled", description="The card is cancelled.")
    CARD_EXPIRED = strawberry.enum_value("card_expired", description="The card is past its expiry date.")
    HOLDER_INACTIVE = strawberry.enum_value(
        "holder_inactive", description="The cardholder is deactivated or their access is blocked.")
    PIN_NOT_SET = strawberry.enum_value("pin_not_set", description="The cardholder has not set the card's PIN yet.")
    WRONG_PIN = strawberry.enum_value("wrong_pin", description=(
        "Wrong PIN (the first or second in a row; `pinAttemptsLeft` says how many are left)."))
    CARD_LIMIT_EXCEEDED = strawberry.enum_value(
        "card_limit_exceeded", description="Above what is left of the card's monthly limit.")
    PURCHASE_LIMIT_EXCEEDED = strawberry.enum_value(
        "purchase_limit_exceeded", description="Above the holder's purchase limit per order.")
    MONTHLY_LIMIT_EXCEEDED = strawberry.enum_value("monthly_limit_exceeded", description=(
        "Above what is left of the holder's monthly purchase limit (orders and card purchases count together)."))
    CREDIT_LIMIT_EXCEEDED = strawberry.enum_value(
        "credit_limit_exceeded", description="Above the account's available credit.")


assert [c.value for c in CardDeclineCode] == [c.value for c in use_cases.DeclineCode]


@strawberry.type(description=(
    "One authorisation request from a store on a company card, approved or declined, with what has been refunded "
    "on it. Readable by platform operators (`card:authorize`), by the account's members with `invoice:read` or "
    "`order:read_all`, and by the cardholder."))
class CardPurchase(Node):
    card_id: strawberry.ID | None = strawberry.field(description="The Card; null when no card had the number.")
    card_last4: str | None = strawberry.field(description="The card number's last four digits; null likewise.")
    holder_id: strawberry.ID | None = strawberry.field(description="The cardholder (a User); null likewise.")
    holder_name: str | None = strawberry.field(description="The cardholder's name; null likewise.")
    amount: Money = strawberry.field(description="The amount asked for, including VAT.")
    vat_rate: int = strawberry.field(description="The VAT rate of the amount, in percent, as the store sent it.")
    status: CardPurchaseStatus = strawberry.field(description="Approved or declined.")
    decline_code: CardDeclineCode | None = strawberry.field(description="Why it was declined; null when approved.")
    message: str = strawberry.field(description="The answer in words, for the store's till.")
    store_reference: str = strawberry.field(description="The store's reference of the sale (store and receipt).")
    authorized_at: datetime = strawberry.field(description="When the request was answered (UTC).")
    refunded: Money = strawberry.field(description="What has been refunded on it so far.")
    refundable: Money = strawberry.field(description="What is left to refund (0 for a declined purchase).")
    invoiced: bool = strawberry.field(description="Whether it is on an invoice yet.")

    @classmethod
    def from_view(cls, view: use_cases.PurchaseView) -> CardPurchase:
        p, c = view.purchase, view.purchase.currency
        approved = p.status == DomainStatus.APPROVED.value
        return cls(
            id=to_global_id("CardPurchase", p.id),
            card_id=to_global_id("Card", p.card_id) if p.card_id else None, card_last4=view.last4,
            holder_id=to_global_id("User", p.holder_id) if p.holder_id else None, holder_name=view.holder_name,
            amount=money(p.amount_minor, c), vat_rate=p.vat_rate, status=CardPurchaseStatus(p.status),
            decline_code=CardDeclineCode(p.decline_code) if p.decline_code else None,
            message=use_cases.purchase_message(p), store_reference=p.store_reference, authorized_at=p.authorized_at,
            refunded=money(p.refunded_minor, c),
            refundable=money(p.amount_minor - p.refunded_minor if approved else 0, c),
            invoiced=p.invoice_id is not None)


def _view(purchase, card) -> use_cases.PurchaseView:
    return use_cases.PurchaseView(purchase, card.last4 if card is not None else None, None)


async def fetch_card_purchase(ctx, pk: int) -> CardPurchase | None:
    view = await use_cases.get_card_purchase(ctx, pk)
    return CardPurchase.from_view(view) if view else None


@strawberry.input(description=(
    "A store's request to charge a company card. Amounts are decimal strings in the card's currency."))
class AuthorizeCardPurchaseInput:
    card_number: str = strawberry.field(description="The full card number as read from the card (spaces allowed).")
    pin: str = strawberry.field(description="The PIN the cardholder typed.")
    amount: str = strawberry.field(description="The amount to charge including VAT, more than zero.")
    store_reference: str = strawberry.field(
        description="The store's reference of the sale (store and receipt), 1 to 100 characters.")
    idempotency_key: str = strawberry.field(description=(
        "8 to 100 characters, unique per request: the same key gives the same answer (the stored purchase); the "
        "same key with another card, amount, store reference or VAT rate is IDEMPOTENCY_KEY_REUSED."))
    vat_rate: int = strawberry.field(
        default=25, description="The VAT rate of the amount in percent (25, 15, 12, 6, 0).")


@strawberry.type(description="The answer to a store's request.")
class CardAuthorizationPayload:
    purchase: CardPurchase = strawberry.field(description="The purchase: approved, or declined with its code.")
    remaining_this_month: Money | None = strawberry.field(description=(
        "What is left of the card's monthly limit now; null when no card had the number."))
    pin_attempts_left: int | None = strawberry.field(description=(
        "Wrong PINs the card takes now before it is blocked (0 for a blocked or cancelled card); null when no card "
        "had the number."))
    replayed: bool = strawberry.field(description=(
        "True when this is the stored answer to an earlier request with the same idempotency key (nothing was "
        "taken again)."))


CardAuthorizationResult = Annotated[
    CardAuthorizationPayload | MutationError,
    strawberry.union("CardAuthorizationResult", description="Result of authorizeCardPurchase."),
]


@strawberry.input(description="Money given back on an approved card purchase.")
class RefundCardPurchaseInput:
    purchase_id: strawberry.ID = strawberry.field(description="The CardPurchase.")
    amount: str = strawberry.field(description="Amount to refund, more than zero and at most what is left of it.")
    idempotency_key: str = strawberry.field(description=(
        "8 to 100 characters: the same key gives the same refund once; with another purchase or amount it is "
        "IDEMPOTENCY_KEY_REUSED."))
    reason: str = strawberry.field(
        default="", description="Why (returned goods, a wrong amount), up to 500 characters.")


@strawberry.type(description="A refund on a card purchase.")
class CardRefund:
    id: strawberry.ID = strawberry.field(description="The refund's id.")
    amount: Money = strawberry.field(description="The amount given back.")
    reason: str = strawberry.field(description="Why.")
    created_at: datetime = strawberry.field(description="When it was made (UTC).")


@strawberry.type(description="The refund and the purchase after it.")
class CardRefundPayload:
    refund: CardRefund = strawberry.field(description="The refund.")
    purchase: CardPurchase = strawberry.field(description="The purchase with what is now refunded.")
    replayed: bool = strawberry.field(description="True when this is the stored refund of an earlier request.")


CardRefundResult = Annotated[
    CardRefundPayload | MutationError, strawberry.union("CardRefundResult", description="Result of refundCardPurchase.")
]


@strawberry.input(description="Which card purchases to list; all given conditions must hold.")
class CardPurchaseFilter:
    card_id: strawberry.ID | None = strawberry.field(default=None, description="Only this card's.")
    from_: date | None = strawberry.field(default=None, name="from", description="Answered on or after this day (UTC).")
    to: date | None = strawberry.field(default=None, description="Answered on or before this day (UTC).")
    status: CardPurchaseStatus | None = strawberry.field(default=None, description="Only approved or only declined.")
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform operators: the company (required for them; others: INVALID_INPUT).")

    def to_domain(self) -> use_cases.PurchaseFilter:
        return use_cases.PurchaseFilter(
            card_id=optional_id(self.card_id, "Card"), start=self.from_, end=self.to,
            status=DomainStatus(self.status.value) if self.status else None,
            company_id=optional_id(self.company_id, "Company"))


def _cursor(after: str | None) -> tuple[datetime, int] | None:
    position = from_keyset_cursor(after)
    if position is None:
        return None
    if not isinstance(position[0], datetime):
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
    return position[0], position[1]


def _authorization_payload(a: use_cases.Authorization) -> CardAuthorizationPayload:
    currency = a.purchase.currency
    return CardAuthorizationPayload(
        purchase=CardPurchase.from_view(_view(a.purchase, a.card)),
        remaining_this_month=money(a.remaining_minor, currency) if a.remaining_minor is not None else None,
        pin_attempts_left=a.pin_attempts_left, replayed=a.replayed)


def _refund_payload(r: use_cases.Refund) -> CardRefundPayload:
    c = r.purchase.currency
    return CardRefundPayload(
        refund=CardRefund(id=to_global_id("CardRefund", r.refund.id), amount=money(r.refund.amount_minor, c),
                          reason=r.refund.reason, created_at=r.refund.created_at),
        purchase=CardPurchase.from_view(use_cases.PurchaseView(r.purchase, None, None)), replayed=r.replayed)


@strawberry.type
class CardPurchaseQuery:
    @strawberry.field(description=(
        "Card purchases, newest first: the whole account's with `invoice:read` or `order:read_all` (administrators, "
        "managers, accountants, API clients with INVOICES_READ or ORDERS_READ); a cardholder's own cards' for any "
        "other member; any company's for platform operators with `card:authorize`, who name it in the filter."))
    async def card_purchases(
        self, info: strawberry.Info,
        filter: Annotated[CardPurchaseFilter | None, strawberry.argument(description="Conditions.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[CardPurchase]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_card_purchases(
                ctx, filter=(filter or CardPurchaseFilter()).to_domain(), first=first, after=_cursor(after))
        edges = [Edge(cursor=to_keyset_cursor(v.purchase.authorized_at, v.purchase.id), node=CardPurchase.from_view(v))
                 for v in page.views]
        return connection_of(edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page)


@strawberry.type
class CardPurchaseMutation:
    @strawberry.mutation(description=(
        "A store asks to charge a company card: the card must be active and not expired, the PIN right (three wrong "
        "PINs in a row block the card; a right one resets the count), and the amount within the card's monthly "
        "limit, the holder's purchase limits and the account's credit, all taken atomically. A decline is an "
        "answer, not an error: it is recorded (with the PIN count) and returned with its code. Platform operators "
        "only (`card:authorize`)."))
    async def authorize_card_purchase(
        self, info: strawberry.Info, input: Annotated[AuthorizeCardPurchaseInput, INPUT],
    ) -> CardAuthorizationResult:
        return await run_mutation(info, lambda ctx: use_cases.authorize_card_purchase(
            ctx, card_number=input.card_number, pin=input.pin, amount_minor=parse_amount(input.amount, "amount"),
            store_reference=input.store_reference, idempotency_key=input.idempotency_key, vat_rate=input.vat_rate),
            _authorization_payload)

    @strawberry.mutation(description=(
        "Give money back on an approved card purchase (at most what is left of it): the card's and the holder's "
        "month of the purchase and the account's credit get it back. Platform operators only (`card:authorize`); "
        "audited."))
    async def refund_card_purchase(
        self, info: strawberry.Info, input: Annotated[RefundCardPurchaseInput, INPUT],
    ) -> CardRefundResult:
        return await run_mutation(info, lambda ctx: use_cases.refund_card_purchase(
            ctx, purchase_id=decode_id(input.purchase_id, "CardPurchase") or 0,
            amount_minor=parse_amount(input.amount, "amount"), idempotency_key=input.idempotency_key,
            reason=input.reason), _refund_payload)
