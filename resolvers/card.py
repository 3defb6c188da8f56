"""Company cards (Bedriftskort): ordering, the holder's PIN, blocking and lifting blocks, cancelling, reading.

Up to MAX_LIVE_CARDS live (active or blocked) cards per account, counted under the company row's lock so that two
concurrent orders can never both take the last place. A card's state lives in its row only: a purchase reads it in
its own transaction, so a block counts at once in every server process.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlalchemy import func, select

from models import Company, Membership, MembershipStatus
from models.base import utcnow
from models.card import Card, CardBlockReason, CardMonthlySpend, CardStatus
from models.errors import DomainError, ErrorCode
from policies.errors import Forbidden
from policies.permissions import OPERATOR_ROLE, Permission
from policies.scopes import company_rows, cross_company, find_member, member_loading
from resolvers.audit import audit
from resolvers.card_number import card_expiry, card_number_digest, new_card_number
from resolvers.context import UseCaseContext
from resolvers.pagination import Page, keyset_page

LIVE = (CardStatus.ACTIVE.value, CardStatus.BLOCKED.value)
# Blocks an administrator lifts; the holder lifts their own HOLDER block; the rest only a platform operator.
ADMINISTRATOR_LIFTS = frozenset({CardBlockReason.HOLDER.value, CardBlockReason.ADMINISTRATOR.value})
OPERATORS = "platform operators lift PIN and misuse blocks of every company's cards"
NO_SUCH_CARD = "No such card"


@dataclass
class CardView:
    """A card with its holder (loaded as a User shows) and what it spent this calendar month (UTC)."""

    card: Card
    holder: Membership
    spent_this_month_minor: int

    @property
    def remaining_this_month_minor(self) -> int:
        return max(self.card.monthly_limit_minor - self.spent_this_month_minor, 0)


@dataclass
class OrderedCard:
    view: CardView
    number: str  # the full number: returned once, in orderCard's payload, and never stored


def this_month():
    return utcnow().date().replace(day=1)


async def card_views(ctx: UseCaseContext, cards: list[Card]) -> list[CardView]:
    """Views of cards the caller may see: their holders and this month's spend in two statements."""
    if not cards:
        return []
    holder_ids = {card.holder_id for card in cards}
    holders = {m.id: m for m in (await ctx.session.scalars(
        company_members_of(cards).where(Membership.id.in_(holder_ids)))).unique()}
    spent = dict((await ctx.session.execute(select(CardMonthlySpend.card_id, CardMonthlySpend.spent_minor).where(
        CardMonthlySpend.card_id.in_([card.id for card in cards]), CardMonthlySpend.month == this_month()))).all())
    return [CardView(card, holders[card.holder_id], spent.get(card.id, 0)) for card in cards]


def company_members_of(cards: list[Card]):
    """The members of the cards' company, loaded as a User shows."""
    return member_loading(company_rows(Membership, cards))


async def card_view(ctx: UseCaseContext, card: Card) -> CardView:
    return (await card_views(ctx, [card]))[0]


# --- reading ---------------------------------------------------------------------------------------------------

def visible_cards(ctx: UseCaseContext):
    """The company's cards with `card:read` (administrators, accountants), else the caller's own."""
    actor = ctx.require_signed_in()
    if actor.company_id is None:
        raise Forbidden("This operation acts for a company: switch to one of your companies first")
    if ctx.allows(Permission.CARD_READ):
        return company_rows(Card, actor)
    if actor.membership_id is None:  # an API client: no scope reads cards
        raise Forbidden(f"You do not have permission to do this (requires {Permission.CARD_READ.value})")
    return company_rows(Card, actor).where(Card.holder_id == actor.membership_id)


async def list_cards(
    ctx: UseCaseContext, *, holder_id: int | None, status: CardStatus | None, first: int, after: int | None,
) -> Page[CardView]:
    query = visible_cards(ctx)
    if holder_id is not None:
        query = query.where(Card.holder_id == holder_id)
    if status is not None:
        query = query.where(Card.status == status.value)
    page = await keyset_page(ctx.session, query, Card.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)
    return Page(await card_views(ctx, page.items), page.has_next_page, page.has_previous_page)


async def get_card(ctx: UseCaseContext, card_id: int) -> CardView | None:
    card = await ctx.session.scalar(visible_cards(ctx).where(Card.id == card_id))
    return await card_view(ctx, card) if card else None


# --- ordering --------------------------------------------------------------------------------------------------

async def order_card(ctx: UseCaseContext, *, holder_id: int, monthly_limit_minor: int) -> OrderedCard:
    actor = ctx.require(Permission.CARD_MANAGE)
    if monthly_limit_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "A card's monthly limit must be above zero", "monthlyLimit")
    # The company row's lock serialises card orders of one account: the count below stays true until commit.
    company = await ctx.session.get_one(Company, actor.company_id, with_for_update=True)
    holder = await find_member(ctx.session, actor, holder_id)
    if holder is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", "holderId")
    if holder.status != MembershipStatus.ACTIVE.value or holder.blocked_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "Cards are ordered for active users whose access is not blocked",
                          "holderId")
    buys = ctx.services.authorizer.role_allows(holder.role, Permission.ORDER_CREATE) and not any(
        r.permission == Permission.ORDER_CREATE.value for r in holder.restrictions)
    if not buys:
        raise DomainError(ErrorCode.ROLE_NOT_ALLOWED, "A card is for a user who may place orders", "holderId")
    live = await ctx.session.scalar(company_rows(Card, company, func.count()).where(Card.status.in_(LIVE)))
    limit = ctx.settings.max_live_cards
    if (live or 0) >= limit:
        raise DomainError(ErrorCode.CARD_LIMIT_REACHED,
                          f"The account already has {limit} cards in use: cancel one to order another")
    number = await _unused_number(ctx)
    card = Card(
        company_id=company.id, holder_id=holder.id, number_digest=card_number_digest(ctx.settings, number),
        last4=number[-4:], expires_on=card_expiry(utcnow().date()), monthly_limit_minor=monthly_limit_minor,
        currency=ctx.settings.supplier_currency, status=CardStatus.ACTIVE.value, failed_pin_attempts=0,
        created_by_id=actor.user_id)
    ctx.session.add(card)
    await ctx.session.flush()
    await audit(ctx, "card", card.id, "order", after={
        "holder_id": holder.id, "last4": card.last4, "monthly_limit_minor": monthly_limit_minor,
        "expires_on": card.expires_on.isoformat()})
    return OrderedCard(await card_view(ctx, card), number)


async def _unused_number(ctx: UseCaseContext) -> str:
    """A number no card has (a clash of random digits is most unlikely, but a digest must stay unique)."""
    while True:
        number = new_card_number(ctx.settings)
        taken = await ctx.session.scalar(cross_company(
            select(Card.id).where(Card.number_digest == card_number_digest(ctx.settings, number)),
            "card numbers are unique across the platform"))
        if taken is None:
            return number


# --- the PIN ---------------------------------------------------------------------------------------------------

def check_pin(pin: str, last4: str) -> None:
    """Four ASCII digits, not one a thief tries first: one digit four times (0000), a straight run up or down
    (1234, 9876), or the card's own last four digits."""
    if not (isinstance(pin, str) and len(pin) == 4 and all(c in "0123456789" for c in pin)):
        raise DomainError(ErrorCode.INVALID_INPUT, "A PIN is four digits", "pin")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({0}, {1}, {-1}) or pin == last4:
        raise DomainError(ErrorCode.INVALID_INPUT, "This PIN is too easy to guess: choose another", "pin")


async def set_card_pin(ctx: UseCaseContext, *, card_id: int, pin: str) -> CardView:
    """The holder sets or replaces their card's PIN (kept as an argon2 hash); a PIN block stays until lifted."""
    actor = ctx.require_signed_in()
    ctx.refuse_api_client()
    card = await ctx.session.scalar(company_rows(Card, actor).where(
        Card.id == card_id, Card.holder_id == actor.membership_id).with_for_update())
    if card is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such card of yours", "cardId")
    _not_cancelled(card)
    check_pin(pin, card.last4)
    replaced = card.pin_hash is not None
    card.pin_hash = await ctx.services.passwords.hash(pin)
    card.pin_set_at, card.failed_pin_attempts = utcnow(), 0
    await ctx.session.flush()
    await audit(ctx, "card", card.id, "pin_changed" if replaced else "pin_set")
    return await card_view(ctx, card)


# --- blocking --------------------------------------------------------------------------------------------------

MAX_NOTE = 500


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A reason is at most {MAX_NOTE} characters", "reason")
    return note


def _block(card: Card, reason: CardBlockReason, user_id: int | None) -> None:
    card.status, card.block_reason = CardStatus.BLOCKED.value, reason.value
    card.blocked_at, card.blocked_by_id = utcnow(), user_id


async def block_card(ctx: UseCaseContext, *, card_id: int, note: str | None = None) -> CardView:
    """The holder blocks their own card (HOLDER), an administrator any card of the company (ADMINISTRATOR). A card
    already blocked keeps its block and reason."""
    actor = ctx.require_signed_in()
    ctx.refuse_api_client()
    card = await ctx.session.scalar(visible_cards(ctx).where(Card.id == card_id).with_for_update())
    if card is None:
        raise DomainError(ErrorCode.NOT_FOUND, NO_SUCH_CARD, "cardId")
    note = _note(note)
    holder = card.holder_id == actor.membership_id
    if not holder and not ctx.allows(Permission.CARD_MANAGE):
        raise Forbidden(f"Only the holder or an administrator blocks a card (requires {Permission.CARD_MANAGE.value})")
    _not_cancelled(card)
    if card.status == CardStatus.ACTIVE.value:
        _block(card, CardBlockReason.HOLDER if holder else CardBlockReason.ADMINISTRATOR, actor.user_id)
        await ctx.session.flush()
        await audit(ctx, "card", card.id, "block", before={"status": CardStatus.ACTIVE.value},
                    after={"status": card.status, "block_reason": card.block_reason, "note": note})
    return await card_view(ctx, card)


async def block_all_cards(ctx: UseCaseContext, *, note: str | None = None) -> int:
    """An administrator blocks every active card of the account at once; returns how many it blocked."""
    actor = ctx.require(Permission.CARD_MANAGE)
    note = _note(note)
    cards = list((await ctx.session.scalars(company_rows(Card, actor).where(
        Card.status == CardStatus.ACTIVE.value).order_by(Card.id).with_for_update())).all())
    for card in cards:
        _block(card, CardBlockReason.ADMINISTRATOR, actor.user_id)
    await ctx.session.flush()
    for card in cards:
        await audit(ctx, "card", card.id, "block", before={"status": CardStatus.ACTIVE.value},
                    after={"status": card.status, "block_reason": card.block_reason, "note": note})
    return len(cards)


async def block_cards_of(ctx: UseCaseContext, membership_id: int, reason: CardBlockReason) -> int:
    """Block every active card of one holder of the caller's company with `reason` (such as MISUSE when their
    access is blocked), in the caller's transaction; returns how many it blocked. Cards already blocked keep their
    block and reason (a lifted misuse block must not lift the holder's own)."""
    actor = ctx.require_signed_in()
    cards = list((await ctx.session.scalars(company_rows(Card, actor).where(
        Card.holder_id == membership_id, Card.status == CardStatus.ACTIVE.value).with_for_update())).all())
    for card in cards:
        _block(card, reason, actor.user_id)
    await ctx.session.flush()
    for card in cards:
        await audit(ctx, "card", card.id, "block", before={"status": CardStatus.ACTIVE.value},
                    after={"status": card.status, "block_reason": reason.value})
    return len(cards)


async def unblock_cards_of(ctx: UseCaseContext, membership_id: int, reason: CardBlockReason) -> int:
    """Lift the `reason` blocks (such as MISUSE) of one holder's cards of the caller's company, in the caller's
    transaction; returns how many. Other blocks stay."""
    actor = ctx.require_signed_in()
    cards = list((await ctx.session.scalars(company_rows(Card, actor).where(
        Card.holder_id == membership_id, Card.status == CardStatus.BLOCKED.value,
        Card.block_reason == reason.value).with_for_update())).all())
    for card in cards:
        _lift(card)
    await ctx.session.flush()
    for card in cards:
        await audit(ctx, "card", card.id, "unblock", before={"block_reason": reason.value},
                    after={"status": card.status})
    return len(cards)


def _lift(card: Card) -> None:
    card.status, card.block_reason, card.blocked_at, card.blocked_by_id = CardStatus.ACTIVE.value, None, None, None
    card.failed_pin_attempts = 0


async def unblock_card(ctx: UseCaseContext, *, card_id: int) -> CardView:
    """Who lifts which block: the holder their own HOLDER block; an administrator HOLDER and ADMINISTRATOR blocks;
    a platform operator any (PIN blocks only they lift, resetting the count of wrong PINs)."""
    actor = ctx.require_signed_in()
    ctx.refuse_api_client()
    operator = actor.is_operator and ctx.services.authorizer.role_allows(OPERATOR_ROLE, Permission.CARD_UNBLOCK)
    if operator:
        card = await ctx.session.scalar(cross_company(
            select(Card).where(Card.id == card_id).with_for_update(), OPERATORS))
    else:
        card = await ctx.session.scalar(visible_cards(ctx).where(Card.id == card_id).with_for_update())
    if card is None:
        raise DomainError(ErrorCode.NOT_FOUND, NO_SUCH_CARD, "cardId")
    if card.status != CardStatus.BLOCKED.value:
        raise DomainError(ErrorCode.INVALID_STATE, "The card is not blocked", "cardId")
    reason = card.block_reason
    if not operator:
        admin = ctx.allows(Permission.CARD_MANAGE)
        holder = card.holder_id == actor.membership_id
        if reason not in ADMINISTRATOR_LIFTS:
            raise Forbidden(f"Only a platform operator lifts this block (requires {Permission.CARD_UNBLOCK.value})")
        if not admin and not (holder and reason == CardBlockReason.HOLDER.value):
            raise Forbidden("Only an administrator lifts this block")
    _lift(card)
    await ctx.session.flush()
    await audit(ctx, "card", card.id, "unblock", before={"block_reason": reason}, after={"status": card.status},
                company_id=card.company_id)
    return await card_view(ctx, card)


async def cancel_card(ctx: UseCaseContext, *, card_id: int) -> CardView:
    """Final: a cancelled card is never used again, and frees its place among the account's live cards."""
    actor = ctx.require(Permission.CARD_MANAGE)
    card = await _company_card(ctx, actor, card_id, "cardId")
    _not_cancelled(card)
    before = card.status
    card.status = CardStatus.CANCELLED.value
    await ctx.session.flush()
    await audit(ctx, "card", card.id, "cancel", before={"status": before}, after={"status": card.status})
    return await card_view(ctx, card)


async def _company_card(ctx: UseCaseContext, actor, card_id: int, field: str) -> Card:
    card = await ctx.session.scalar(company_rows(Card, actor).where(Card.id == card_id).with_for_update())
    if card is None:
        raise DomainError(ErrorCode.NOT_FOUND, NO_SUCH_CARD, field)
    return card


def _not_cancelled(card: Card) -> None:
    if card.status == CardStatus.CANCELLED.value:
        raise DomainError(ErrorCode.INVALID_STATE, "The card is cancelled", "cardId")

