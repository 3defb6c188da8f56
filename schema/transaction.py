"""`transactions(from:, to:)`: the account's purchases, returns, invoices, credit notes and payments between two
dates, with the running account balance (see resolvers/transactions.py for what moves it)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.errors import DomainError, ErrorCode
from resolvers import transactions as use_cases
from schema.money import Money, money
from schema.relay import MAX_KEY, PageInfo, optional_id, to_global_id


@strawberry.enum(description="What a transaction is.")
class TransactionKind(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    PURCHASE = strawberry.enum_value("purchase", description=(
        "An order whose money is committed (submitted, awaiting approval, approved or fulfilled), at its "
        "submission; listed, but owed only once invoiced: it does not move the balance."))
    RETURN = strawberry.enum_value("return", description=(
        "Goods returned from a fulfilled order (negative amount); owed back once credited: it does not move the "
        "balance."))
    INVOICE = strawberry.enum_value("invoice", description="An invoice (adds its gross amount to the balance).")
    CREDIT_NOTE = strawberry.enum_value(
        "credit_note", description="A credit note (takes its gross amount off the balance).")
    PAYMENT = strawberry.enum_value("payment", description="A payment received (takes its amount off the balance).")


@strawberry.type(description="One purchase, return, invoice, credit note or payment of the account.")
class Transaction:
    kind: TransactionKind = strawberry.field(description="What it is.")
    date: date = strawberry.field(description="The day it happened (UTC): submission, return, issue or receipt.")
    at: datetime = strawberry.field(description=(
        "When it happened (UTC); invoices, credit notes and payments at the start of their day. Entries are "
        "ordered by this, then kind (purchase, return, invoice, credit note, payment), then creation."))
    amount: Money = strawberry.field(description=(
        "Signed amount including VAT: positive for purchases and invoices, negative for returns, credit notes and "
        "payments."))
    balance: Money | None = strawberry.field(description=(
        "The account balance after this entry: the sum of every invoice less every credit note and payment since "
        "the account opened (what the company owes by its invoices). Purchases and returns leave it as it was "
        "(they are owed once invoiced or credited). Null for callers who see only purchases."))
    number: str = strawberry.field(description="The order's or the invoice's number; empty for a payment.")
    reference: str = strawberry.field(description=(
        "The order's reference; for invoices the KID (or the recipient's reference); for payments the KID given."))
    order_id: strawberry.ID | None = strawberry.field(description="The order of a purchase or return.")
    invoice_id: strawberry.ID | None = strawberry.field(
        description="The invoice or credit note; for a payment, the invoice it was matched to.")


@strawberry.type(description="One transaction with its cursor.")
class TransactionEdge:
    cursor: str = strawberry.field(description="Opaque position of this entry, usable as `after`.")
    node: Transaction = strawberry.field(description="The entry.")


@strawberry.type(description="A page of the account's transactions, oldest first, with the account's figures now.")
class TransactionConnection:
    edges: list[TransactionEdge] = strawberry.field(description="The entries of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    outstanding: Money | None = strawberry.field(description=(
        "What the company owes now, on the credit account: committed purchases not yet paid, invoiced or not "
        "(null for callers who see only purchases)."))
    available_credit: Money | None = strawberry.field(description=(
        "Credit limit less outstanding, now (null for callers who see only purchases)."))


def to_cursor(key: use_cases.Key) -> str:
    text = json.dumps([key[0].isoformat(), key[1], key[2]], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def from_cursor(cursor: str | None) -> use_cases.Key | None:
    """The entry a page starts after; anything but a cursor this API gave is INVALID_INPUT."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, rank, pk = json.loads(text)
        at = datetime.fromisoformat(at_text)
        offset = at.utcoffset()
        if offset is None or offset.total_seconds() != 0:
            raise ValueError("cursor times are UTC")
        if type(rank) is not int or not 0 <= rank < len(use_cases.EntryKind):
            raise ValueError("not a kind")
        if type(pk) is not int or not 0 < pk <= MAX_KEY:
            raise ValueError("not a key")
        key = (at.astimezone(UTC), rank, pk)
        if to_cursor(key) != cursor:
            raise ValueError("not a cursor of this API")
        return key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after") from None


def transaction_of(entry: use_cases.Entry) -> Transaction:
    c = entry.currency
    return Transaction(
        kind=TransactionKind(entry.kind.value), date=entry.at.date(), at=entry.at,
        amount=money(entry.amount_minor, c),
        balance=money(entry.balance_minor, c) if entry.balance_minor is not None else None,
        number=entry.number, reference=entry.reference,
        order_id=to_global_id("Order", entry.order_id) if entry.order_id else None,
        invoice_id=to_global_id("Invoice", entry.invoice_id) if entry.invoice_id else None)


@strawberry.type
class TransactionQuery:
    @strawberry.field(description=(
        "The account's purchases, returns, invoices, credit notes and payments between two dates (at most five "
        "years back), oldest first, with the running balance, the outstanding amount and the available credit. "
        "The whole account with `invoice:read` (administrators, managers, accountants, API clients with "
        "INVOICES_READ) and for platform operators (who name the company); `order:read_all` alone: every purchase "
        "and return, no ledger; a buyer: their own purchases and returns. Others are refused."))
    async def transactions(
        self, info: strawberry.Info,
        from_: Annotated[date, strawberry.argument(name="from", description=(
            "First day (UTC), inclusive; at most five years back.")), ],
        to: Annotated[date, strawberry.argument(description="Last day (UTC), inclusive; not before `from`.")],
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
        company_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Platform operators: the company (required for them; others may omit it).")] = None,
    ) -> TransactionConnection:
        async with info.context.reading() as ctx:
            page = await use_cases.list_transactions(
                ctx, start=from_, end=to, first=first, after=from_cursor(after),
                company_id=optional_id(company_id, "Company"))
        edges = [TransactionEdge(cursor=to_cursor(e.key), node=transaction_of(e)) for e in page.entries]
        currency = page.company.currency
        return TransactionConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, has_previous_page=page.has_previous_page,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=edges[-1].cursor if edges else None),
            outstanding=money(page.outstanding_minor, currency) if page.outstanding_minor is not None else None,
            available_credit=money(page.available_minor, currency) if page.available_minor is not None else None)
