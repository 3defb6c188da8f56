"""Card purchases in the supplier's stores: authorisation, refunds, and who may read them.

An authorisation is one transaction. The card's row is locked first (FOR UPDATE on PostgreSQL; SQLite's write
sessions hold the write lock from BEGIN), so the wrong-PIN count is exact and concurrent requests for one card
queue. The money is then taken inside a savepoint, each guard a conditional UPDATE as order submission takes it
(resolvers/spend.py): the card's month, the holder's monthly purchase limit, the account's credit. A refusal rolls
the savepoint back, so what a declined purchase took is given back at once while the purchase's own record and the
PIN counter stay: a declined purchase is an answer, committed like an approved one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select, update

from models import (
    Card,
    CardMonthlySpend,
    CardPurchase,
    CardRefund,
    Company,
    CreditAccount,
    MemberMonthlySpend,
    Membership,
    User,
)
from models.base import utcnow
from models.card import CardBlockReason, CardPurchaseStatus, CardStatus
from models.errors import DomainError, ErrorCode
from models.money import check_vat_rate, format_amount
from models.user import MembershipStatus
from policies.permissions import Permission
from policies.scopes import company_row, company_rows, company_update, cross_company
from resolvers.audit import audit
from resolvers.card_number import card_number_digest
from resolvers.context import UseCaseContext
from resolvers.spend import ensure_credit_account
from resolvers.upsert import ensure_row

PIN_ATTEMPTS = 3  # wrong PINs in a row that block a card
STORES = "a store's request names a card by its number, whatever company holds it"
OPERATORS = "platform operators refund any company's card purchase"


class DeclineCode(StrEnum):
    UNKNOWN_CARD = "unknown_card"
    CARD_BLOCKED = "card_blocked"
    CARD_BLOCKED_PIN = "card_blocked_pin"
    CARD_CANCELLED = "card_cancelled"
    CARD_EXPIRED = "card_expired"
    HOLDER_INACTIVE = "holder_inactive"
    PIN_NOT_SET = "pin_not_set"
    WRONG_PIN = "wrong_pin"
    CARD_LIMIT_EXCEEDED = "card_limit_exceeded"
    PURCHASE_LIMIT_EXCEEDED = "purchase_limit_exceeded"
    MONTHLY_LIMIT_EXCEEDED = "monthly_limit_exceeded"
    CREDIT_LIMIT_EXCEEDED = "credit_limit_exceeded"


MESSAGES = {
    DeclineCode.UNKNOWN_CARD: "No card has this number",
    DeclineCode.CARD_BLOCKED: "The card is blocked",
    DeclineCode.CARD_BLOCKED_PIN: ("The card is blocked after three wrong PINs in a row; only the supplier can lift "
                                   "the block"),
    DeclineCode.CARD_CANCELLED: "The card is cancelled",
    DeclineCode.CARD_EXPIRED: "The card has expired",
    DeclineCode.HOLDER_INACTIVE: "The cardholder's access is deactivated or blocked",
    DeclineCode.PIN_NOT_SET: "The cardholder has not set a PIN yet",
    DeclineCode.WRONG_PIN: "Wrong PIN; three wrong PINs in a row block the card",
    DeclineCode.CARD_LIMIT_EXCEEDED: "The purchase is above what is left of the card's monthly limit",
    DeclineCode.PURCHASE_LIMIT_EXCEEDED: "The purchase is above the cardholder's purchase limit per order",
    DeclineCode.MONTHLY_LIMIT_EXCEEDED: "The purchase is above what is left of the cardholder's monthly purchase limit",
    DeclineCode.CREDIT_LIMIT_EXCEEDED: "The purchase is above the account's available credit",
}
APPROVED_MESSAGE = "Approved"


def purchase_message(purchase: CardPurchase) -> str:
    """The answer in words, from the stored purchase alone (a replay gives the same words)."""
    return MESSAGES[DeclineCode(purchase.decline_code)] if purchase.decline_code else APPROVED_MESSAGE


class Declined(Exception):
    """A refusal inside the savepoint: everything taken in it is rolled back."""

    def __init__(self, code: DeclineCode) -> None:
        super().__init__(code.value)
        self.code = code


@dataclass
class Authorization:
    purchase: CardPurchase
    card: Card | None
    remaining_minor: int | None  # left on the card this month, as it stands after this request
    pin_attempts_left: int | None
    replayed: bool  # the stored answer to an earlier request with the same key


def month_of(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def _key(value: str, field: str = "idempotencyKey") -> str:
    key = value.strip()
    if not 8 <= len(key) <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "An idempotency key has 8 to 100 characters", field)
    return key


def _request_digest(number_digest: str, amount_minor: int, store_reference: str, vat_rate: int) -> str:
    content = [number_digest, amount_minor, store_reference, vat_rate]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


async def authorize_card_purchase(
    ctx: UseCaseContext, *, card_number: str, pin: str, amount_minor: int, store_reference: str,
    idempotency_key: str, vat_rate: int = 25,
) -> Authorization:
    actor = ctx.services.authorizer.require_operator(ctx.actor, Permission.CARD_AUTHORIZE)
    key = _key(idempotency_key)
    reference = store_reference.strip()
    if not 1 <= len(reference) <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "A store reference has 1 to 100 characters", "storeReference")
    if amount_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "An amount is more than zero", "amount")
    check_vat_rate(vat_rate)
    number_digest = card_number_digest(ctx.settings, card_number)
    request = _request_digest(number_digest, amount_minor, reference, vat_rate)
    # The card's row lock comes first: a retry racing its original waits here, then finds the stored answer.
    card = await ctx.session.scalar(cross_company(
        select(Card).where(Card.number_digest == number_digest).with_for_update(), STORES))
    earlier = await ctx.session.scalar(cross_company(
        select(CardPurchase).where(CardPurchase.idempotency_key == key), STORES))
    if earlier is not None:
        if earlier.request_digest != request:
            raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED,
                              "This key was used for a different purchase (card, amount or store reference)",
                              "idempotencyKey")
        earlier_card = card if card is not None and card.id == earlier.card_id else None
        return await _answer(ctx, earlier, earlier_card, replayed=True)
    now = utcnow()
    purchase = CardPurchase(
        company_id=card.company_id if card else None, card_id=card.id if card else None,
        holder_id=card.holder_id if card else None, idempotency_key=key, request_digest=request,
        amount_minor=amount_minor, currency=card.currency if card else ctx.settings.supplier_currency,
        vat_rate=vat_rate, store_reference=reference, refunded_minor=0, authorized_by_id=actor.user_id,
        authorized_by_client_id=actor.api_client_id, authorized_at=now)
    decline = await _decide(ctx, card, pin, amount_minor, now)
    purchase.status = (CardPurchaseStatus.DECLINED if decline else CardPurchaseStatus.APPROVED).value
    purchase.decline_code = decline.value if decline else None
    ctx.session.add(purchase)
    await ctx.session.flush()
    return await _answer(ctx, purchase, card, replayed=False)


async def _decide(ctx: UseCaseContext, card: Card | None, pin: str, amount: int, now: datetime) -> DeclineCode | None:
    """None when approved (the money taken), else why not (nothing taken)."""
    if card is None:
        return DeclineCode.UNKNOWN_CARD
    if card.status == CardStatus.CANCELLED.value:
        return DeclineCode.CARD_CANCELLED
    if card.status == CardStatus.BLOCKED.value:
        return DeclineCode.CARD_BLOCKED_PIN if card.block_reason == CardBlockReason.PIN.value else (
            DeclineCode.CARD_BLOCKED)
    if card.expires_on < now.date():
        return DeclineCode.CARD_EXPIRED
    if card.pin_hash is None:
        return DeclineCode.PIN_NOT_SET
    if not await ctx.services.passwords.verify(card.pin_hash, pin):
        card.failed_pin_attempts += 1
        if card.failed_pin_attempts < PIN_ATTEMPTS:
            return DeclineCode.WRONG_PIN
        card.status, card.block_reason, card.blocked_at = CardStatus.BLOCKED.value, CardBlockReason.PIN.value, now
        card.blocked_by_id = None
        return DeclineCode.CARD_BLOCKED_PIN
    card.failed_pin_attempts = 0
    holder = await company_row(ctx.session, Membership, card.holder_id, card)
    if holder is None or holder.status != MembershipStatus.ACTIVE.value or holder.blocked_at is not None:
        return DeclineCode.HOLDER_INACTIVE
    await ctx.session.flush()  # the counter's reset is kept whatever the savepoint does
    try:
        async with ctx.session.begin_nested():
            await _take(ctx, card, holder, amount, month_of(now))
    except Declined as declined:
        return declined.code
    return None


async def _take(ctx: UseCaseContext, card: Card, holder: Membership, amount: int, month: date) -> None:
    await ensure_row(ctx.session, CardMonthlySpend, card_id=card.id, month=month, spent_minor=0)
    taken = (await ctx.session.execute(
        update(CardMonthlySpend)
        .where(CardMonthlySpend.card_id == card.id, CardMonthlySpend.month == month,
               CardMonthlySpend.spent_minor + amount <= card.monthly_limit_minor)
        .values(spent_minor=CardMonthlySpend.spent_minor + amount).returning(CardMonthlySpend.spent_minor)
    )).scalar_one_or_none()
    if taken is None:
        raise Declined(DeclineCode.CARD_LIMIT_EXCEEDED)
    if holder.order_limit_minor is not None and amount > holder.order_limit_minor:
        raise Declined(DeclineCode.PURCHASE_LIMIT_EXCEEDED)
    if not await _take_member_month(ctx, holder, amount, month):
        raise Declined(DeclineCode.MONTHLY_LIMIT_EXCEEDED)
    await ensure_credit_account(ctx, card.company_id)
    outstanding = (await ctx.session.execute(
        company_update(CreditAccount, card)
        .where(CreditAccount.outstanding_minor + amount <= CreditAccount.credit_limit_minor)
        .values(outstanding_minor=CreditAccount.outstanding_minor + amount)
        .returning(CreditAccount.outstanding_minor)
    )).scalar_one_or_none()
    if outstanding is None:
        raise Declined(DeclineCode.CREDIT_LIMIT_EXCEEDED)


async def _take_member_month(ctx: UseCaseContext, holder: Membership, amount: int, month: date) -> bool:
    """The holder's month, as orders count it (MemberMonthlySpend): guarded by their monthly limit when set.
    A card purchase has no approval route, so above the limit is a refusal."""
    await ensure_row(ctx.session, MemberMonthlySpend, membership_id=holder.id, month_start=month, committed_minor=0)
    condition = [MemberMonthlySpend.membership_id == holder.id, MemberMonthlySpend.month_start == month]
    if holder.monthly_limit_minor is not None:
        condition.append(MemberMonthlySpend.committed_minor + amount <= holder.monthly_limit_minor)
    committed = (await ctx.session.execute(
        update(MemberMonthlySpend).where(*condition)
        .values(committed_minor=MemberMonthlySpend.committed_minor + amount)
        .returning(MemberMonthlySpend.committed_minor)
    )).scalar_one_or_none()
    return committed is not None


async def remaining_this_month(ctx: UseCaseContext, card: Card) -> int:
    spent = await ctx.session.scalar(select(CardMonthlySpend.spent_minor).where(
        CardMonthlySpend.card_id == card.id, CardMonthlySpend.month == month_of(utcnow()))) or 0
    return max(card.monthly_limit_minor - spent, 0)


async def _answer(ctx: UseCaseContext, purchase: CardPurchase, card: Card | None, *, replayed: bool) -> Authorization:
    if card is None and purchase.card_id is not None:
        card = await company_row(ctx.session, Card, purchase.card_id, purchase)
    remaining = await remaining_this_month(ctx, card) if card is not None else None
    attempts = (max(PIN_ATTEMPTS - card.failed_pin_attempts, 0) if card is not None
                and card.status == CardStatus.ACTIVE.value else (0 if card is not None else None))
    return Authorization(purchase, card, remaining, attempts, replayed)


# --- refunds ---------------------------------------------------------------------------------------------------


@dataclass
class Refund:
    refund: CardRefund
    purchase: CardPurchase
    replayed: bool


async def refund_card_purchase(
    ctx: UseCaseContext, *, purchase_id: int, amount_minor: int, idempotency_key: str, reason: str,
) -> Refund:
    """Give money back on an approved purchase, at most what is left of it: the card's month and the holder's month
    of the purchase, and the account's credit, are lowered by it."""
    ctx.services.authorizer.require_operator(ctx.actor, Permission.CARD_AUTHORIZE)
    key = _key(idempotency_key)
    purchase = await ctx.session.scalar(cross_company(
        select(CardPurchase).where(CardPurchase.id == purchase_id).with_for_update(), OPERATORS))
    if purchase is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such card purchase", "purchaseId")
    earlier = await ctx.session.scalar(cross_company(
        select(CardRefund).where(CardRefund.idempotency_key == key), OPERATORS))
    if earlier is not None:
        if (earlier.purchase_id, earlier.amount_minor) != (purchase.id, amount_minor):
            raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This key was used for a different refund",
                              "idempotencyKey")
        return Refund(earlier, purchase, True)
    if purchase.status != CardPurchaseStatus.APPROVED.value or purchase.company_id is None:
        raise DomainError(ErrorCode.INVALID_STATE, "Only an approved purchase can be refunded", "purchaseId")
    if amount_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "An amount is more than zero", "amount")
    left = purchase.amount_minor - purchase.refunded_minor
    if amount_minor > left:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"At most {format_amount(left)} {purchase.currency} is left to refund", "amount")
    month = month_of(purchase.authorized_at)
    await ctx.session.execute(update(CardMonthlySpend).where(
        CardMonthlySpend.card_id == purchase.card_id, CardMonthlySpend.month == month,
    ).values(spent_minor=CardMonthlySpend.spent_minor - amount_minor))
    await ctx.session.execute(update(MemberMonthlySpend).where(
        MemberMonthlySpend.membership_id == purchase.holder_id, MemberMonthlySpend.month_start == month,
    ).values(committed_minor=MemberMonthlySpend.committed_minor - amount_minor))
    await ctx.session.execute(company_update(CreditAccount, purchase)
                              .values(outstanding_minor=CreditAccount.outstanding_minor - amount_minor))
    purchase.refunded_minor += amount_minor
    refund = CardRefund(purchase_id=purchase.id, company_id=purchase.company_id, amount_minor=amount_minor,
                        idempotency_key=key, reason=(reason or "").strip()[:500],
                        created_by_id=ctx.actor.user_id if ctx.actor else None)
    ctx.session.add(refund)
    await ctx.session.flush()
    await audit(ctx, "card_purchase", purchase.id, "refund", company_id=purchase.company_id,
                after={"refund_id": refund.id, "amount_minor": amount_minor, "reason": refund.reason,
                       "refunded_minor": purchase.refunded_minor})
    return Refund(refund, purchase, False)


# --- reads -----------------------------------------------------------------------------------------------------


@dataclass
class PurchaseFilter:
    card_id: int | None = None
    start: date | None = None
    end: date | None = None
    status: CardPurchaseStatus | None = None
    company_id: int | None = None


@dataclass
class PurchaseView:
    purchase: CardPurchase
    last4: str | None
    holder_name: str | None


@dataclass
class PurchasePage:
    views: list[PurchaseView]
    has_next_page: bool
    has_previous_page: bool


async def _visible(ctx: UseCaseContext, company_id: int | None):
    """The card purchases the caller may read: platform operators a named company's; `invoice:read` or
    `order:read_all` the whole account's; any other member their own cards'."""
    actor = ctx.require_signed_in()
    if actor.is_operator and actor.company_id is None:
        ctx.services.authorizer.require_operator(actor, Permission.CARD_AUTHORIZE)
        if company_id is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "Name the company whose card purchases to list", "companyId")
        company = await ctx.session.get(Company, company_id)
        if company is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such company", "companyId")
        return company_rows(CardPurchase, company)
    if company_id is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Only platform operators name a company", "companyId")
    if actor.company_id is None:
        ctx.require(Permission.INVOICE_READ)  # the standard refusal
    query = company_rows(CardPurchase, actor)
    if ctx.allows(Permission.INVOICE_READ) or ctx.allows(Permission.ORDER_READ_ALL):
        return query
    if actor.membership_id is None:
        ctx.require(Permission.INVOICE_READ)  # an API client without either scope
    return query.where(CardPurchase.holder_id == actor.membership_id)


async def list_card_purchases(
    ctx: UseCaseContext, *, filter: PurchaseFilter, first: int, after: tuple[datetime, int] | None,
) -> PurchasePage:
    if not 1 <= first <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "Ask for 1 to 100 purchases", "first")
    if filter.start and filter.end and filter.end < filter.start:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` is before `from`", "filter.to")
    query = await _visible(ctx, filter.company_id)
    if filter.card_id is not None:
        query = query.where(CardPurchase.card_id == filter.card_id)
    if filter.status is not None:
        query = query.where(CardPurchase.status == filter.status.value)
    if filter.start is not None:
        query = query.where(CardPurchase.authorized_at >= datetime.combine(filter.start, datetime.min.time(),
                                                                           tzinfo=utcnow().tzinfo))
    if filter.end is not None:
        query = query.where(CardPurchase.authorized_at < datetime.combine(
            date.fromordinal(filter.end.toordinal() + 1), datetime.min.time(), tzinfo=utcnow().tzinfo))
    if after is not None:
        at, pk = after
        query = query.where((CardPurchase.authorized_at < at)
                            | ((CardPurchase.authorized_at == at) & (CardPurchase.id < pk)))
    query = query.order_by(CardPurchase.authorized_at.desc(), CardPurchase.id.desc()).limit(first + 1)
    purchases = list((await ctx.session.scalars(query)).all())
    has_next = len(purchases) > first
    return PurchasePage(await _views(ctx, purchases[:first]), has_next, after is not None)


async def _views(ctx: UseCaseContext, purchases: list[CardPurchase]) -> list[PurchaseView]:
    """The cards' last four digits and the holders' names of a page, in one statement."""
    card_ids = {p.card_id for p in purchases if p.card_id is not None}
    names: dict[int, tuple[str, str]] = {}
    if card_ids:
        rows = await ctx.session.execute(company_rows(Card, purchases, Card.id, Card.last4, User.first_name,
                                                      User.last_name)
                                         .join(Membership, Membership.id == Card.holder_id)
                                         .join(User, User.id == Membership.user_id).where(Card.id.in_(card_ids)))
        names = {row.id: (row.last4, f"{row.first_name} {row.last_name}".strip()) for row in rows}
    views = []
    for p in purchases:
        last4, holder = names.get(p.card_id, (None, None)) if p.card_id is not None else (None, None)
        views.append(PurchaseView(p, last4, holder))
    return views


async def get_card_purchase(ctx: UseCaseContext, pk: int) -> PurchaseView | None:
    """`node(id:)`: a purchase the caller may read (operators: any company's)."""
    actor = ctx.require_signed_in()
    if actor.is_operator and actor.company_id is None:
        ctx.services.authorizer.require_operator(actor, Permission.CARD_AUTHORIZE)
        query = cross_company(select(CardPurchase), OPERATORS)
    else:
        query = await _visible(ctx, None)
    purchase = await ctx.session.scalar(query.where(CardPurchase.id == pk))
    return (await _views(ctx, [purchase]))[0] if purchase is not None else None

