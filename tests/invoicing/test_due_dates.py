"""Due dates with real calendars: the terms, then the next business day over weekends and public holidays of the
company's country; the KID and its check digit."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum import luhn

from invoicing.due_dates import due_date, is_business_day, next_business_day
from invoicing.kid import is_valid_kid, kid_for
from invoicing.selection import invoice_day_due


@pytest.mark.parametrize(("issued", "terms", "country", "due", "why"), [
    (date(2026, 12, 1), 32, "NO", date(2027, 1, 4), "2 Jan is a Saturday"),
    (date(2026, 12, 15), 32, "NO", date(2027, 1, 18), "16 Jan is a Saturday"),
    (date(2027, 1, 15), 32, "NO", date(2027, 2, 16), "a Tuesday: as it is"),
    (date(2027, 2, 22), 32, "NO", date(2027, 3, 30), "Maundy Thursday to Easter Monday, 25-29 March 2027"),
    (date(2027, 4, 15), 32, "NO", date(2027, 5, 18), "17 May is Constitution Day (and Whit Monday in 2027)"),
    (date(2026, 4, 15), 32, "NO", date(2026, 5, 18), "17 May 2026 is a Sunday: Monday 18 May is open"),
    (date(2026, 3, 1), 32, "NO", date(2026, 4, 7), "2 April 2026 is Maundy Thursday, then Good Friday to Easter "
                                                   "Monday"),
    (date(2026, 11, 15), 30, "SE", date(2026, 12, 15), "a Tuesday: as it is"),
    (date(2027, 5, 26), 30, "SE", date(2027, 6, 28), "Midsummer Eve (Friday) and Midsummer Day (Saturday)"),
    (date(2026, 5, 20), 30, "SE", date(2026, 6, 22), "19 June 2026 is Midsummer Eve"),
    (date(2026, 5, 7), 30, "SE", date(2026, 6, 8), "6 June, the National Day, is a Saturday"),
    (date(2026, 11, 24), 30, "SE", date(2026, 12, 28), "Christmas Eve to the Second Day of Christmas, then Sunday"),
    (date(2026, 11, 25), 30, "NO", date(2026, 12, 28), "Norway: Christmas Day and Boxing Day, then Sunday"),
    (date(2026, 11, 24), 30, "NO", date(2026, 12, 24), "Christmas Eve is no public holiday in Norway"),
])
def test_due_dates(issued, terms, country, due, why):
    assert due_date(issued, terms, country) == due, why


def test_business_days_differ_by_country():
    assert not is_business_day(date(2027, 5, 17), "NO") and is_business_day(date(2027, 5, 17), "SE")
    assert is_business_day(date(2026, 5, 18), "NO")
    assert not is_business_day(date(2026, 6, 6), "SE")  # Swedish National Day (a Saturday too)
    assert not is_business_day(date(2027, 6, 25), "SE") and is_business_day(date(2027, 6, 25), "NO")
    assert next_business_day(date(2027, 1, 1), "NO") == date(2027, 1, 4)
    assert next_business_day(date(2027, 1, 6), "SE") == date(2027, 1, 7)  # Epiphany in Sweden
    assert next_business_day(date(2027, 1, 6), "NO") == date(2027, 1, 6)


def test_the_kid_is_the_padded_number_with_a_luhn_check_digit():
    assert kid_for(1) == "0000000018"
    assert kid_for(123456) == "0001234566"
    for number in (1, 2, 99, 1000, 987654321):
        kid = kid_for(number)
        assert len(kid) == 10 and luhn.is_valid(kid) and is_valid_kid(kid) and int(kid[:-1]) == number
    assert len({kid_for(number) for number in range(1, 5000)}) == 4999
    assert not is_valid_kid("0000000013") and not is_valid_kid("12ab")


@pytest.mark.parametrize(("days", "run_date", "due"), [
    ([1, 15], date(2026, 12, 1), True),
    ([1, 15], date(2026, 12, 15), True),
    ([1, 15], date(2026, 12, 14), False),
    ([31], date(2027, 2, 28), True),  # February has no 31st: its last day
    ([30, 31], date(2027, 4, 30), True),
    ([31], date(2027, 4, 29), False),
    ([29], date(2028, 2, 29), True),
    ([29], date(2027, 2, 28), True),
    ([], date(2026, 12, 1), False),
])
def test_invoice_days(days, run_date, due):
    assert invoice_day_due(days, run_date) is due
