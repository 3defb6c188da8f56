"""Company cards: the Card type, the cards query, ordering, the holder's PIN, blocking, unblocking, cancelling."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.card import CardBlockReason as DomainReason
from models.card import CardStatus as DomainStatus
from models.money import parse_amount
from resolvers import card as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.relay import Connection, Node, connection, decode_id, from_cursor, optional_id, to_global_id
from schema.user import User


@strawberry.enum(description="Where a card stands.")
class CardStatus(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    ACTIVE = strawberry.enum_value(DomainStatus.ACTIVE.value, description="Usable in the supplier's stores.")
    BLOCKED = strawberry.enum_value(DomainStatus.BLOCKED.value, description=(
        "Refused in every store until the block is lifted (`blockReason` says who may lift it); still counts "
        "among the account's live cards."))
    CANCELLED = strawberry.enum_value(DomainStatus.CANCELLED.value, description=(
        "Never usable again; does not count among the account's live cards."))


@strawberry.enum(description="Why a card is blocked, which says who may lift the block.")
class CardBlockReason(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    HOLDER = strawberry.enum_value(DomainReason.HOLDER.value, description=(
        "The holder blocked it: the holder or an administrator lifts it."))
    ADMINISTRATOR = strawberry.enum_value(DomainReason.ADMINISTRATOR.value, description=(
        "An administrator blocked it (alone or with all the account's cards): an administrator lifts it."))
    PIN = strawberry.enum_value(DomainReason.PIN.value, description=(
        "Three wrong PINs in a row: only a platform operator lifts it (`card:unblock`)."))
    MISUSE = strawberry.enum_value(DomainReason.MISUSE.value, description=(
        "The holder's access was blocked on suspected misuse: lifted when their access is unblocked, or by a "
        "platform operator."))
    OPERATOR = strawberry.enum_value(DomainReason.OPERATOR.value, description=(
        "A platform operator blocked it: a platform operator lifts it."))


assert [s.value for s in CardStatus] == [s.value for s in DomainStatus]
assert [r.value for r in CardBlockReason] == [r.value for r in DomainReason]


@strawberry.type(description=(
    "A company card (Bedriftskort) for buying in the supplier's stores on the account's credit. Only its last four "
    "digits are kept: the whole number was shown once, when it was ordered. Administrators and accountants see the "
    "account's cards (`card:read`), a holder their own; `node(id:)` fetches it with the same rights."))
class Card(Node):
    last4: str = strawberry.field(description="The number's last four digits.")
    holder: User = strawberry.field(description="Who uses it; purchases count against their purchase limits too.")
    status: CardStatus = strawberry.field(description="Active, blocked or cancelled.")
    block_reason: CardBlockReason | None = strawberry.field(
        description="Why it is blocked (null unless BLOCKED; a cancelled card keeps the reason it had).")
    blocked_at: datetime | None = strawberry.field(description="When it was blocked (UTC).")
    monthly_limit: Money = strawberry.field(description="What it may spend per calendar month (UTC), VAT included.")
    spent_this_month: Money = strawberry.field(description="Approved purchases this calendar month, less refunds.")
    remaining_this_month: Money = strawberry.field(description="Monthly limit less spent (never below zero).")
    pin_set: bool = strawberry.field(description="Whether the holder has set a PIN; a card without one is refused.")
    expires_on: date = strawberry.field(description="Last day it can be used (the end of a month).")
    created_at: datetime = strawberry.field(description="When it was ordered (UTC).")

    @classmethod
    def from_view(cls, view: use_cases.CardView) -> Card:
        card = view.card
        return cls(
            id=to_global_id("Card", card.id), last4=card.last4, holder=User.from_model(view.holder),
            status=CardStatus(card.status),
            block_reason=CardBlockReason(card.block_reason) if card.block_reason else None,
            blocked_at=card.blocked_at, monthly_limit=money(card.monthly_limit_minor, card.currency),
            spent_this_month=money(view.spent_this_month_minor, card.currency),
            remaining_this_month=money(view.remaining_this_month_minor, card.currency),
            pin_set=card.pin_hash is not None, expires_on=card.expires_on, created_at=card.created_at,
        )


@strawberry.input(description="Which cards to list.")
class CardFilter:
    holder_id: strawberry.ID | None = strawberry.field(default=None, description="Only this user's cards.")
    status: CardStatus | None = strawberry.field(default=None, description="Only cards with this status.")


@strawberry.input(description="A new card for a member of the company.")
class OrderCardInput:
    holder_id: strawberry.ID = strawberry.field(description=(
        "Who will use it: an active user of the company who may place orders (not an order approver or "
        "accountant), whose access is not blocked."))
    monthly_limit: str = strawberry.field(
        description="What it may spend per calendar month, VAT included: a decimal string above zero (\"5000.00\").")


@strawberry.input(description="A PIN for your own card.")
class SetCardPinInput:
    card_id: strawberry.ID = strawberry.field(description="Your card.")
    pin: str = strawberry.field(description=(
        "Four digits, not one digit four times (0000), a straight run (1234, 9876) or the card's last four digits. "
        "Kept only as a hash; never shown."))


@strawberry.input(description="A card to block.")
class BlockCardInput:
    card_id: strawberry.ID = strawberry.field(description="The card.")
    reason: str | None = strawberry.field(
        default=None, description="Why, in your words (kept in the audit log, at most 500 characters).")


@strawberry.input(description="Block every card of the account.")
class BlockAllCardsInput:
    reason: str | None = strawberry.field(
        default=None, description="Why, in your words (kept in the audit log, at most 500 characters).")


@strawberry.input(description="A card.")
class CardIdInput:
    card_id: strawberry.ID = strawberry.field(description="The card.")


@strawberry.type(description="A card just ordered, with its whole number.")
class OrderCardPayload:
    card: Card = strawberry.field(description="The card (active, without a PIN until its holder sets one).")
    card_number: str = strawberry.field(description=(
        "The whole 16-digit number: shown this once and never again (only its last four digits and a keyed hash "
        "are kept). Give it to the holder with the card."))


@strawberry.type(description="The card after the change.")
class CardPayload:
    card: Card = strawberry.field(description="The card.")


@strawberry.type(description="What blockAllCards did.")
class BlockAllCardsPayload:
    blocked_count: int = strawberry.field(
        description="How many active cards it blocked (cards already blocked keep their block and reason).")


OrderCardResult = Annotated[OrderCardPayload | MutationError, strawberry.union(
    "OrderCardResult", description="Result of orderCard.")]
CardResult = Annotated[CardPayload | MutationError, strawberry.union(
    "CardResult", description="Result of setCardPin, blockCard, unblockCard and cancelCard.")]
BlockAllCardsResult = Annotated[BlockAllCardsPayload | MutationError, strawberry.union(
    "BlockAllCardsResult", description="Result of blockAllCards.")]


def _card_id(value: str) -> int:
    return decode_id(value, "Card") or 0


def _payload(view: use_cases.CardView) -> CardPayload:
    return CardPayload(card=Card.from_view(view))


async def fetch_card(ctx, pk: int) -> Card | None:
    """node(id:): with the rights of `cards`."""
    view = await use_cases.get_card(ctx, pk)
    return Card.from_view(view) if view else None


@strawberry.type
class CardQuery:
    @strawberry.field(description=(
        "Company cards, oldest first: all the account's with `card:read` (administrators, accountants), else your "
        "own."))
    async def cards(
        self, info: strawberry.Info,
        filter: Annotated[CardFilter | None, strawberry.argument(description="Which cards.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[Card]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_cards(
                ctx, holder_id=optional_id(filter.holder_id, "User") if filter else None,
                status=DomainStatus(filter.status.value) if filter and filter.status else None,
                first=first, after=from_cursor(after))
        return connection(page, Card.from_view, key=lambda view: view.card.id)


@strawberry.type
class CardMutation:
    @strawberry.mutation(description=(
        "Order a card for a member; the payload holds its whole number, shown this once. At most MAX_LIVE_CARDS "
        "(default 10) live cards per account (CARD_LIMIT_REACHED). Requires `card:manage` (administrators)."))
    async def order_card(self, info: strawberry.Info, input: Annotated[OrderCardInput, INPUT]) -> OrderCardResult:
        return await run_mutation(info, lambda ctx: use_cases.order_card(
            ctx, holder_id=decode_id(input.holder_id, "User") or 0,
            monthly_limit_minor=parse_amount(input.monthly_limit, "monthlyLimit")),
            lambda ordered: OrderCardPayload(card=Card.from_view(ordered.view), card_number=ordered.number))

    @strawberry.mutation(description=(
        "Set or replace the PIN of your own card (the holder only); the count of wrong PINs starts again. A PIN "
        "block stays until a platform operator lifts it."))
    async def set_card_pin(self, info: strawberry.Info, input: Annotated[SetCardPinInput, INPUT]) -> CardResult:
        return await run_mutation(info, lambda ctx: use_cases.set_card_pin(
            ctx, card_id=_card_id(input.card_id), pin=input.pin), _payload)

    @strawberry.mutation(description=(
        "Block a card at once, in every store: the holder their own (HOLDER), an administrator any card of the "
        "account (ADMINISTRATOR). A blocked card stays as it is."))
    async def block_card(self, info: strawberry.Info, input: Annotated[BlockCardInput, INPUT]) -> CardResult:
        return await run_mutation(info, lambda ctx: use_cases.block_card(
            ctx, card_id=_card_id(input.card_id), note=input.reason), _payload)

    @strawberry.mutation(description=(
        "Block every active card of the account at once, in one transaction. Requires `card:manage`."))
    async def block_all_cards(
        self, info: strawberry.Info, input: Annotated[BlockAllCardsInput | None, INPUT] = None,
    ) -> BlockAllCardsResult:
        return await run_mutation(info, lambda ctx: use_cases.block_all_cards(
            ctx, note=input.reason if input else None), lambda count: BlockAllCardsPayload(blocked_count=count))

    @strawberry.mutation(description=(
        "Lift a card's block: the holder their own HOLDER block; an administrator (`card:manage`) HOLDER and "
        "ADMINISTRATOR blocks; a platform operator (`card:unblock`) any, PIN blocks included (the count of wrong "
        "PINs starts again). A misuse block is lifted with the holder's access."))
    async def unblock_card(self, info: strawberry.Info, input: Annotated[CardIdInput, INPUT]) -> CardResult:
        return await run_mutation(info, lambda ctx: use_cases.unblock_card(ctx, card_id=_card_id(input.card_id)),
                                  _payload)

    @strawberry.mutation(description=(
        "Cancel a card for good: it is never usable again and frees a place among the account's live cards. "
        "Requires `card:manage`."))
    async def cancel_card(self, info: strawberry.Info, input: Annotated[CardIdInput, INPUT]) -> CardResult:
        return await run_mutation(info, lambda ctx: use_cases.cancel_card(ctx, card_id=_card_id(input.card_id)),
                                  _payload)
