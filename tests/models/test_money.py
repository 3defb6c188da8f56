"""Money arithmetic (no I/O): integer minor units, Decimal parsing, VAT rounded half-up per line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.errors import DomainError, ErrorCode
from models.money import (
    NOT_AN_AMOUNT,
    VAT_RATES,
    LineAmounts,
    check_vat_rate,
    format_amount,
    line_amounts,
    parse_amount,
    to_amount,
    totals_of,
    vat_of,
)


@pytest.mark.parametrize("minor, text", [(0, "0.00"), (1, "0.01"), (10, "0.10"), (123450, "1234.50"),
                                         (-250, "-2.50"), (2_147_483_648_00, "2147483648.00")])
def test_minor_units_become_two_decimal_amounts(minor, text):
    assert to_amount(minor) == Decimal(text)
    assert format_amount(minor) == text


@pytest.mark.parametrize("text, minor", [
    ("12.50", 1250), ("12.5", 1250), ("12", 1200), (" 0.10 ", 10), ("0.01", 1), ("0", 0), ("-3.25", -325),
    ("9999999999999.99", 999999999999999), ("-9999999999999.99", -999999999999999), ("007.5", 750), ("-0", 0),
    ("0" * 5000 + "1", 100),
])
def test_parse_amount_reads_decimal_strings_exactly(text, minor):
    assert parse_amount(text, "unitPrice") == minor


@pytest.mark.parametrize("text, message", [
    ("12.505", "An amount has at most two decimals"), ("0.001", "An amount has at most two decimals"),
    ("12.500", "An amount has at most two decimals"),
    ("abc", NOT_AN_AMOUNT), ("", NOT_AN_AMOUNT), ("12,50", NOT_AN_AMOUNT), ("NaN", NOT_AN_AMOUNT),
    ("Infinity", NOT_AN_AMOUNT), ("-Infinity", NOT_AN_AMOUNT), ("sNaN", NOT_AN_AMOUNT),
    # one spelling per amount, in ASCII digits: no exponent, sign, separator, bare point or other script's digits
    ("1e2", NOT_AN_AMOUNT), ("1E2", NOT_AN_AMOUNT), ("1e309", NOT_AN_AMOUNT), ("1e999999999", NOT_AN_AMOUNT),
    ("1e-999999999", NOT_AN_AMOUNT), ("+5", NOT_AN_AMOUNT), ("1_000", NOT_AN_AMOUNT), ("1 000", NOT_AN_AMOUNT),
    (".5", NOT_AN_AMOUNT), ("5.", NOT_AN_AMOUNT), ("--5", NOT_AN_AMOUNT), ("\u0661\u0660\u0660", NOT_AN_AMOUNT),
    ("\uff11\uff12", NOT_AN_AMOUNT), ("1\u00b2", NOT_AN_AMOUNT),
    ("10000000000000", "Amount out of range"), ("-10000000000000", "Amount out of range"),
    ("1" + "0" * 5000, "Amount out of range"),
])
def test_parse_amount_refuses_what_is_not_an_exact_amount(text, message):
    with pytest.raises(DomainError) as caught:
        parse_amount(text, "filter.minTotal")
    error = caught.value
    assert (error.code, error.message, error.field) == (ErrorCode.INVALID_INPUT, message, "filter.minTotal")


def test_parse_amount_refuses_a_missing_value():
    with pytest.raises(DomainError) as caught:
        parse_amount(None, "unit_price")  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_INPUT, "unit_price")


@pytest.mark.parametrize("net, rate, vat", [
    (10, 25, 3),     # 2.5 -> 3 (half-up, not banker's 2)
    (10, 15, 2),     # 1.5 -> 2
    (30, 25, 8),     # 7.5 -> 8
    (2, 25, 1),      # 0.5 -> 1
    (1, 25, 0),      # 0.25 -> 0
    (6, 25, 2),      # 1.5 -> 2
    (14, 25, 4),     # 3.5 -> 4
    (10, 12, 1),     # 1.2 -> 1
    (10, 6, 1),      # 0.6 -> 1
    (25, 6, 2),      # 1.5 -> 2
    (1234, 0, 0),
    (0, 25, 0),
    (10_000_000_000_002, 25, 2_500_000_000_001),  # 2 500 000 000 000.5 -> exact, no float drift
])
def test_vat_is_rounded_half_up_to_the_minor_unit(net, rate, vat):
    assert vat_of(net, rate) == vat


@pytest.mark.parametrize("rate", VAT_RATES)
def test_the_allowed_vat_rates_pass(rate):
    assert check_vat_rate(rate) == rate


def test_the_allowed_vat_rates_are_those_of_norway_and_sweden():
    assert VAT_RATES == (25, 15, 12, 6, 0)


@pytest.mark.parametrize("rate", [20, 24, 1, -25, 100, 250])
def test_other_vat_rates_are_refused(rate):
    with pytest.raises(DomainError) as caught:
        check_vat_rate(rate, "lines.0.vatRate")
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert caught.value.field == "lines.0.vatRate"
    assert caught.value.message == "VAT rate must be one of 25, 15, 12, 6, 0"


def test_line_amounts_multiply_then_round_the_vat_once():
    amounts = line_amounts(unit_price_minor=10, quantity=3, vat_rate=25)
    assert amounts == LineAmounts(net=30, vat=8)  # 7.5 -> 8, not 3 x round(2.5) = 9
    assert amounts.gross == 38


def test_totals_round_per_line_then_sum_per_rate_highest_first():
    lines = [(line_amounts(10, 1, 25), 25), (line_amounts(10, 1, 15), 15), (line_amounts(10, 1, 25), 25),
             (line_amounts(999, 2, 0), 0), (line_amounts(10, 1, 6), 6)]
    totals = totals_of(lines)
    # Per line: 3 + 2 + 3 + 0 + 1 = 9 (rounding the 25 % total once would give 0.20 x 25 % = 5, not 6).
    assert totals.net == 10 + 10 + 10 + 1998 + 10
    assert totals.vat == 9
    assert totals.gross == 2038 + 9
    assert list(totals.vat_by_rate) == [25, 15, 6, 0]
    assert totals.vat_by_rate == {25: (20, 6), 15: (10, 2), 6: (10, 1), 0: (1998, 0)}


def test_totals_of_nothing_are_zero():
    totals = totals_of([])
    assert (totals.net, totals.vat, totals.gross, totals.vat_by_rate) == (0, 0, 0, {})
