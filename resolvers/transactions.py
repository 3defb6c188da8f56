"""The account's transactions between two dates: purchases, returns, invoices, credit notes and payments.

Two kinds of entry, and one balance:
- the account ledger: invoices (+ gross), credit notes (- gross) and payments (- amount). These are what
  the company owes; `balance` after each of them is the account balance, the running sum of every ledger
  entry since the account opened (the same figure an invoice prints as its balance due, plus the payments
  and credit notes since).
- purchases (orders whose money is committed: submitted, awaiting approval, approved or fulfilled; + gross)
  and returns (- credited) are listed with their amounts but do not move the balance: a purchase becomes
  owed when it is invoiced (its invoice line), a return when it is credited (its credit note). Counting
  both would count every krone twice. Their `balance` is the balance at that moment.

Entries are ordered by when they happened, then kind, then id: a purchase at its submission, a return when
recorded, an invoice or credit note at the start of its issue date, a payment at the start of the day it
was received (all UTC). Each source is read in that order from its own index (orders: company or buyer and
submission time; invoices: company and issue date; payments: company and received date) and merged.

Who sees what: the whole account (every purchase and return, and the ledger with its balance) with
`invoice:read` (administrators, managers, accountants, API clients with INVOICES_READ) and platform
operators (`credit:manage`, naming the company); `order:read_all` alone shows every purchase and return
without the ledger; a buyer (`order:create`) sees their own purchases and returns only. Anyone else is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from heapq import merge

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_

from models import Company, Invoice, LineReturn, Order, OrderLine, Payment
from models.errors import DomainError, ErrorCode
from models.invoice import InvoiceKind
from models.order_state import OrderStatus
from policies.errors import Forbidden
from policies.permissions import Permission
from policies.scopes import company_rows
from resolvers.context import UseCaseContext
from resolvers.credit import credit_status
from resolvers.invoice_view import months_back, today
from resolvers.pagination import check_page_size

YEARS_BACK = 5
# Orders whose money is committed (a draft is a cart; a rejected or cancelled order gave its money back).
COMMITTED = (OrderStatus.SUBMITTED.value, OrderStatus.PENDING_APPROVAL.value, OrderStatus.APPROVED.value,
             OrderStatus.FULFILLED.value)


class EntryKind(StrEnum):
    PURCHASE = "purchase"
    RETURN = "return"
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    PAYMENT = "payment"

    @property
    def rank(self) -> int:
        """The order of kinds at one moment."""
        return _RANKS[self]

    @property
    def in_ledger(self) -> bool:
        return self in (EntryKind.INVOICE, EntryKind.CREDIT_NOTE, EntryKind.PAYMENT)


_RANKS = {kind: rank for rank, kind in enumerate(EntryKind)}
Key = tuple[datetime, int, int]  # (when, kind rank, id): an entry's position


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: EntryKind
    id: int
    amount_minor: int  # signed: what it adds to (purchases, invoices) or takes off (the rest) the account
    currency: str
    number: str  # the order's or the invoice's number; empty for a payment
    reference: str  # the order's reference, the invoice recipient's, the payment's KID
    order_id: int | None = None
    invoice_id: int | None = None
    balance_minor: int | None = None

    @property
    def key(self) -> Key:
        return self.at, self.kind.rank, self.id


@dataclass
class TransactionPage:
    company: Company
    entries: list[Entry]
    has_next_page: bool
    has_previous_page: bool
    whole_account: bool
    outstanding_minor: int | None
    available_minor: int | None


@dataclass(frozen=True)
class _View:
    company: Company
    ledger: bool
    buyer_id: int | None  # only this buyer's purchases and returns; None: all of the company's


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def check_period(start: date, end: date, on: date) -> None:
    oldest = months_back(on, YEARS_BACK * 12)
    if start < oldest:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Transactions go back {YEARS_BACK} years: from must be {oldest.isoformat()} or later",
                          "from")
    if end < start:
        raise DomainError(ErrorCode.INVALID_INPUT, "to must be on or after from", "to")


async def _view(ctx: UseCaseContext, company_id: int | None) -> _View:
    actor = ctx.require_signed_in()
    if actor.is_operator and ctx.allows(Permission.CREDIT_MANAGE) and actor.company_id is None:
        if company_id is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "Platform operators name the company", "companyId")
        company = await ctx.session.get(Company, company_id)
        if company is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such company", "companyId")
        return _View(company, True, None)
    if actor.company_id is None:
        raise Forbidden("This operation acts for a company: switch to one of your companies first")
    if ctx.allows(Permission.INVOICE_READ):
        ledger, buyer_id = True, None
    elif ctx.allows(Permission.ORDER_READ_ALL):
        ledger, buyer_id = False, None
    elif ctx.allows(Permission.ORDER_CREATE) and actor.membership_id is not None:
        ledger, buyer_id = False, actor.membership_id
    else:
        raise Forbidden(
            "You do not have permission to do this (requires invoice:read, order:read_all or order:create)")
    if company_id is not None and company_id != actor.company_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such company", "companyId")  # another's, as a missing one
    return _View(await ctx.session.get_one(Company, actor.company_id), ledger, buyer_id)


# --- positions over each source's own columns -------------------------------------------------------------------

class _Time:
    """Comparisons of a source's time column with a moment: a timestamp, or a date standing for its midnight."""

    def __init__(self, column, is_date: bool) -> None:
        self.column, self.is_date = column, is_date

    def gt(self, at: datetime) -> ColumnElement[bool]:
        return self.column > at.date() if self.is_date else self.column > at

    def ge(self, at: datetime) -> ColumnElement[bool]:
        if not self.is_date:
            return self.column >= at
        return self.column >= at.date() if at == _midnight(at.date()) else self.column > at.date()

    def eq(self, at: datetime) -> ColumnElement[bool]:
        if not self.is_date:
            return self.column == at
        return self.column == at.date() if at == _midnight(at.date()) else false()

    def lt(self, at: datetime) -> ColumnElement[bool]:
        return ~self.ge(at) if self.is_date else self.column < at


def _after(time_: _Time, id_column, kind: EntryKind, key: Key) -> ColumnElement[bool]:
    """The source's rows whose entries come after `key`."""
    at, rank, pk = key
    if kind.rank > rank:
        return time_.ge(at)
    if kind.rank < rank:
        return time_.gt(at)
    return or_(time_.gt(at), and_(time_.eq(at), id_column > pk))


_ORDER_TIME = _Time(Order.submitted_at, False)
_RETURN_TIME = _Time(LineReturn.created_at, False)
_INVOICE_TIME = _Time(Invoice.issue_date, True)
_PAYMENT_TIME = _Time(Payment.received_on, True)


def _orders(view: _View) -> Select:
    query = company_rows(Order, view.company, Order.id, Order.submitted_at, Order.gross_minor, Order.currency,
                         Order.number, Order.reference).where(Order.status.in_(COMMITTED))
    return query.where(Order.buyer_id == view.buyer_id) if view.buyer_id is not None else query


def _returns(view: _View) -> Select:
    query = company_rows(Order, view.company, LineReturn.id, LineReturn.created_at, LineReturn.credited_minor,
                         Order.currency, Order.number, Order.reference, Order.id.label("order_id")).join(
        OrderLine, OrderLine.order_id == Order.id).join(LineReturn, LineReturn.order_line_id == OrderLine.id)
    return query.where(Order.buyer_id == view.buyer_id) if view.buyer_id is not None else query


def _invoices(view: _View, kind: InvoiceKind) -> Select:
    return company_rows(Invoice, view.company, Invoice.id, Invoice.issue_date, Invoice.gross_minor, Invoice.currency,
                        Invoice.number, Invoice.recipient_reference, Invoice.kid).where(Invoice.kind == kind.value)


def _payments(view: _View) -> Select:
    return company_rows(Payment, view.company, Payment.id, Payment.received_on, Payment.amount_minor,
                        Payment.currency, Payment.kid, Payment.invoice_id)


async def _read(ctx: UseCaseContext, view: _View, after: Key, end: datetime, limit: int) -> list[Entry]:
    """Up to `limit` entries of each source after `after` and before `end`, merged in order."""
    async def rows(query: Select, time_: _Time, id_column, kind: EntryKind):
        query = query.where(_after(time_, id_column, kind, after), time_.lt(end))
        return (await ctx.session.execute(query.order_by(time_.column, id_column).limit(limit))).all()

    streams: list[list[Entry]] = []
    streams.append([Entry(r.submitted_at, EntryKind.PURCHASE, r.id, r.gross_minor, r.currency, r.number or "",
                          r.reference, order_id=r.id)
                    for r in await rows(_orders(view), _ORDER_TIME, Order.id, EntryKind.PURCHASE)])
    streams.append([Entry(r.created_at, EntryKind.RETURN, r.id, -r.credited_minor, r.currency, r.number or "",
                          r.reference, order_id=r.order_id)
                    for r in await rows(_returns(view), _RETURN_TIME, LineReturn.id, EntryKind.RETURN)])
    if view.ledger:
        for kind, sign in ((EntryKind.INVOICE, 1), (EntryKind.CREDIT_NOTE, -1)):
            source = _invoices(view, InvoiceKind(kind.value))
            streams.append([Entry(_midnight(r.issue_date), kind, r.id, sign * r.gross_minor, r.currency,
                                  str(r.number), r.kid or r.recipient_reference, invoice_id=r.id)
                            for r in await rows(source, _INVOICE_TIME, Invoice.id, kind)])
        streams.append([Entry(_midnight(r.received_on), EntryKind.PAYMENT, r.id, -r.amount_minor, r.currency, "",
                              r.kid or "", invoice_id=r.invoice_id)
                        for r in await rows(_payments(view), _PAYMENT_TIME, Payment.id, EntryKind.PAYMENT)])
    return list(merge(*streams, key=lambda entry: entry.key))[:limit]


async def balance_through(ctx: UseCaseContext, company: Company, key: Key) -> int:
    """The account balance after every ledger entry up to and including `key`: two sums on the ledger's
    (company, date) indexes."""
    view = _View(company, True, None)
    signed = case((Invoice.kind == InvoiceKind.CREDIT_NOTE.value, -Invoice.gross_minor), else_=Invoice.gross_minor)
    invoiced = 0
    for kind in (EntryKind.INVOICE, EntryKind.CREDIT_NOTE):
        invoiced += await ctx.session.scalar(
            company_rows(Invoice, view.company, func.coalesce(func.sum(signed), 0)).where(
                Invoice.kind == kind.value, ~_after(_INVOICE_TIME, Invoice.id, kind, key))) or 0
    paid = await ctx.session.scalar(
        company_rows(Payment, view.company, func.coalesce(func.sum(Payment.amount_minor), 0)).where(
            ~_after(_PAYMENT_TIME, Payment.id, EntryKind.PAYMENT, key))) or 0
    return int(invoiced) - int(paid)


def start_key(start: date) -> Key:
    """The position just before the first moment of `start`."""
    return _midnight(start), -1, 0


async def list_transactions(
    ctx: UseCaseContext, *, start: date, end: date, first: int, after: Key | None, company_id: int | None = None,
    maximum: int | None = None,
) -> TransactionPage:
    view = await _view(ctx, company_id)
    check_page_size(first, maximum or ctx.settings.max_page_size)
    check_period(start, end, today())
    position = after if after is not None else start_key(start)
    if position < start_key(start):
        position = start_key(start)
    stop = _midnight(end + timedelta(days=1))
    entries = await _read(ctx, view, position, stop, first + 1)
    page, more = entries[:first], len(entries) > first
    outstanding = available = None
    if view.ledger:
        balance = await balance_through(ctx, view.company, position)
        with_balance = []
        for entry in page:
            balance += entry.amount_minor if entry.kind.in_ledger else 0
            with_balance.append(_with_balance(entry, balance))
        page = with_balance
        status = await credit_status(ctx, view.company)
        outstanding, available = status.outstanding_minor, status.available_minor
    return TransactionPage(view.company, page, more, after is not None, view.ledger, outstanding, available)


def _with_balance(entry: Entry, balance: int) -> Entry:
    return Entry(entry.at, entry.kind, entry.id, entry.amount_minor, entry.currency, entry.number, entry.reference,
                 entry.order_id, entry.invoice_id, balance)
