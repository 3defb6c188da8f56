"""Exact money: integer minor units in storage, Decimal in arithmetic, half-up rounding."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from models.errors import DomainError, ErrorCode

MINOR_PER_MAJOR = 100  # NOK and SEK both have two decimals (øre / öre)
VAT_RATES = (25, 15, 12, 6, 0)  # percent, as Norway (25, 15, 12, 0) and Sweden (25, 12, 6, 0) use


def to_amount(minor: int) -> Decimal:
    """Minor units as a Decimal amount with two decimals: 123450 -> Decimal('1234.50')."""
    return (Decimal(minor) / MINOR_PER_MAJOR).quantize(Decimal("0.01"))


def format_amount(minor: int) -> str:
    return str(to_amount(minor))


# ASCII digits only ([0-9], never \d, which also matches Arabic-Indic digits), no exponent, sign, separator or space
# inside: one amount has one spelling, and nothing reaches Decimal before its size is known.
_AMOUNT = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
NOT_AN_AMOUNT = "Not a decimal amount: digits 0-9 with up to two decimals after a point, such as 1234.50"
MAX_INTEGER_DIGITS = 13  # amounts below 10 000 000 000 000: minor units fit 64 bits with room for sums
MAX_AMOUNT_MINOR = 10**MAX_INTEGER_DIGITS * MINOR_PER_MAJOR - 1  # the largest amount anyone can write


def parse_amount(text: str, field_name: str) -> int:
    """A decimal string ("1234.5", "1234.50", "-3") as minor units. Surrounding spaces are ignored;
    more than two decimals, or an amount of 10^13 or more, is refused."""
    match = _AMOUNT.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise DomainError(ErrorCode.INVALID_INPUT, NOT_AN_AMOUNT, field_name)
    sign, integer, decimals = match.groups()
    if decimals is not None and len(decimals) > 2:
        raise DomainError(ErrorCode.INVALID_INPUT, "An amount has at most two decimals", field_name)
    integer = integer.lstrip("0") or "0"
    if len(integer) > MAX_INTEGER_DIGITS:
        raise DomainError(ErrorCode.INVALID_INPUT, "Amount out of range", field_name)
    minor = int(integer) * MINOR_PER_MAJOR + int((decimals or "").ljust(2, "0"))
    return -minor if sign else minor


def check_order_total(totals: Totals) -> None:
    """An order is never above the largest amount a client can write: each price is below it, but
    100 000 of one at 500 lines would overflow the 64-bit columns that store the order."""
    if totals.gross > MAX_AMOUNT_MINOR:
        largest = format_amount(MAX_AMOUNT_MINOR)
        raise DomainError(ErrorCode.INVALID_INPUT, f"An order's total may be at most {largest}")


def vat_of(net_minor: int, rate_percent: int) -> int:
    """VAT on a net amount, rounded half-up to the minor unit."""
    return int((Decimal(net_minor) * rate_percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def check_vat_rate(rate: int, field_name: str = "vatRate") -> int:
    if rate not in VAT_RATES:
        rates = ", ".join(map(str, VAT_RATES))
        raise DomainError(ErrorCode.INVALID_INPUT, f"VAT rate must be one of {rates}", field_name)
    return rate


@dataclass(frozen=True)
class LineAmounts:
    net: int
    vat: int

    @property
    def gross(self) -> int:
        return self.net + self.vat


def line_amounts(unit_price_minor: int, quantity: int, vat_rate: int) -> LineAmounts:
    net = unit_price_minor * quantity
    return LineAmounts(net, vat_of(net, vat_rate))


@dataclass
class Totals:
    net: int = 0
    vat: int = 0
    vat_by_rate: dict[int, tuple[int, int]] = field(default_factory=dict)  # rate -> (net, vat)

    @property
    def gross(self) -> int:
        return self.net + self.vat


def totals_of(lines: Iterable[tuple[LineAmounts, int]]) -> Totals:
    """Order totals from (line amounts, VAT rate): VAT is rounded per line, then summed."""
    by_rate: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    totals = Totals()
    for amounts, rate in lines:
        totals.net += amounts.net
        totals.vat += amounts.vat
        by_rate[rate][0] += amounts.net
        by_rate[rate][1] += amounts.vat
    totals.vat_by_rate = {rate: (net, vat) for rate, (net, vat) in sorted(by_rate.items(), reverse=True)}
    return totals
