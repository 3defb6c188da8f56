"""Due dates: the invoice date plus the payment terms, moved to the next business day of the company's country."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

# Beside the public holidays, the days a country's banks are closed by custom: Midsummer Eve, Christmas Eve and
# New Year's Eve in Sweden (the package's "de facto" holidays there).
EXTRA_CATEGORIES = {"SE": ("de_facto",)}


@cache
def _public_holidays(country: str, year: int) -> frozenset[date]:
    categories = ("public", *EXTRA_CATEGORIES.get(country, ()))
    return frozenset(holidays.country_holidays(country, years=year, categories=categories))


def is_business_day(day: date, country: str) -> bool:
    """Monday to Friday and not a public holiday of `country` ("NO", "SE") (nor a Swedish de facto one)."""
    return day.weekday() < 5 and day not in _public_holidays(country, day.year)


def next_business_day(day: date, country: str) -> date:
    """`day` itself when banks are open, else the first business day after it."""
    while not is_business_day(day, country):
        day += timedelta(days=1)
    return day


def due_date(issue_date: date, terms_days: int, country: str) -> date:
    """The issue date plus `terms_days`, moved forward over weekends and public holidays (a payment falling due
    on a day the banks are closed is on time the next business day)."""
    return next_business_day(issue_date + timedelta(days=terms_days), country)
